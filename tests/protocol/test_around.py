"""``?around=ID`` (the messages around a search hit): both sides of its limits, and what
it cannot be combined with (``protocol/cursors.py: parse_read_query``)."""

from __future__ import annotations

import pytest

from hubbub.errors import InvalidParameter
from hubbub.protocol.cursors import DEFAULT_LIMIT, MAX_ID, ReadQuery, parse_read_query

RANGE = f"around must be a whole number from 1 to {MAX_ID}"


@pytest.mark.parametrize("raw", ["1", " 7 ", str(MAX_ID)])
def test_around_is_taken_from_one_to_the_largest_id(raw: str) -> None:
    query = parse_read_query({"around": raw})
    assert query == ReadQuery(None, None, DEFAULT_LIMIT, None, latest=False, around=int(raw))


@pytest.mark.parametrize("raw", ["0", str(MAX_ID + 1), "", "-1", "1.5", "abc", "١٢", "9" * 20])
def test_around_out_of_range_or_not_a_number_is_refused(raw: str) -> None:
    with pytest.raises(InvalidParameter) as caught:
        parse_read_query({"around": raw})
    assert caught.value.message == RANGE


@pytest.mark.parametrize(
    "other", [{"since": "3"}, {"before": "9"}, {"wait": "5"}, {"since": "0", "wait": "1"}]
)
def test_around_goes_alone_with_a_cursor_or_a_wait(other: dict[str, str]) -> None:
    with pytest.raises(InvalidParameter) as caught:
        parse_read_query({"around": "5", **other})
    assert caught.value.message == "around cannot be used with since, before or wait"


def test_around_takes_a_limit_and_a_view() -> None:
    query = parse_read_query({"around": "5", "limit": "10", "view": "latest"})
    assert query == ReadQuery(None, None, 10, None, latest=True, around=5)
    assert parse_read_query({"around": "5", "view": "log"}).latest is False
    assert parse_read_query({}).around is None
