"""The exact words of every token refusal (``hubbub.protocol.tokens``).

tests/test_tokens.py pins which claims are accepted and which refused; this pins the
message each refusal carries in its 401/403 body, since a client (and an operator
reading a log) tells the causes apart by it. None quotes a claim's value.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from hubbub.errors import Forbidden, InvalidMessage, Unauthorized
from hubbub.principal import Principal
from hubbub.protocol.tokens import check_publish_user, principal_from_claims, validate_pattern

ADDRESS = "192.0.2.7"
PATTERNS = "(a room name, a prefix ending in '*', or '*')"


def test_pattern_refusal() -> None:
    message = "a room pattern is a room name, a room-name prefix ending in '*', or '*' alone"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        validate_pattern("a*b")


@pytest.mark.parametrize(
    ("claims", "message"),
    [
        ({}, "token has no sub claim (the user name)"),
        (
            {"sub": ""},
            "token claim sub must be a user name: 1 to 64 characters, no control characters",
        ),
        (
            {"sub": "x" * 65},
            "token claim sub must be a user name: 1 to 64 characters, no control characters",
        ),
        ({"sub": "a", "exp": "soon"}, "token claim exp must be a number of seconds since 1970"),
        ({"sub": "a", "exp": True}, "token claim exp must be a number of seconds since 1970"),
        (
            {"sub": "a", "rooms": ["lobby"]},
            'token claim rooms must be an object {"read": [...], "write": [...]}',
        ),
        (
            {"sub": "a", "rooms": {"wirte": [], "read": [], "1": []}},
            "token claim rooms has unknown key(s) 1, wirte: only read and write",
        ),
        (
            {"sub": "a", "rooms": {"read": "lobby"}},
            f"token claim rooms.read must be a list of room patterns {PATTERNS}",
        ),
        (
            {"sub": "a", "rooms": {"write": ["a*b"]}},
            f"token claim rooms.write must be a list of room patterns {PATTERNS}",
        ),
    ],
)
def test_claim_refusals(claims: dict[str, Any], message: str) -> None:
    with pytest.raises(Unauthorized) as caught:
        principal_from_claims(claims, ADDRESS)
    assert caught.value.message == message


def test_publish_user_refusals() -> None:
    with pytest.raises(InvalidMessage) as missing:
        check_publish_user(Principal(), None)
    assert missing.value.message == "user is required"
    with pytest.raises(Forbidden) as other:
        check_publish_user(Principal(user="alice"), "bob")
    assert other.value.message == "user must be the token's user (its sub claim) or left out"
