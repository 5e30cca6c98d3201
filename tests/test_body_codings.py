"""Content-Encoding of request bodies, pure: gzip members, trailing bytes, the bound."""

from __future__ import annotations

import gzip
import zlib

import pytest

from hubbub.errors import InvalidRequest, ProtocolError
from hubbub.http.body import decode_body

LIMIT = 1000


def test_gzip_members_one_after_another_are_one_body() -> None:
    """RFC 1952 section 2.2: a gzip file is a series of members (what `cat a.gz b.gz`
    makes); they decode as one body."""
    body = gzip.compress(b'{"user":"a",') + gzip.compress(b'"text":"hi"}')
    assert decode_body(body, "gzip", LIMIT) == b'{"user":"a","text":"hi"}'


def test_bytes_after_the_encoded_body_are_refused() -> None:
    with pytest.raises(InvalidRequest, match="cannot be read"):
        decode_body(gzip.compress(b"{}") + b"junk", "gzip", LIMIT)
    with pytest.raises(InvalidRequest, match="cannot be read"):
        decode_body(zlib.compress(b"{}") + b"junk", "deflate", LIMIT)


def test_the_bound_counts_every_member() -> None:
    half = b"x" * 600
    with pytest.raises(ProtocolError) as refused:
        decode_body(gzip.compress(half) + gzip.compress(half), "gzip", LIMIT)
    assert refused.value.status == 413
    exactly = b"x" * 500
    assert decode_body(gzip.compress(exactly) * 2, "gzip", LIMIT) == exactly * 2
