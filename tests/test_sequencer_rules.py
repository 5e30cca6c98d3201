"""The sequencer's rules one id at a time (``hubbub.hub.sequencer``): no hub, no loop.

tests/test_sequencer.py runs them inside a hub with a store; here each rule is pinned
from both sides: the next id applied and a repeat dropped, a hole found and one id
less not a hole, a fill stopped exactly before the id that ends it.
"""

from __future__ import annotations

import pytest

from hubbub.hub.sequencer import hole_end, hole_rows, in_order
from hubbub.protocol.messages import Message


def rows(*ids: int) -> list[Message]:
    return [Message(id=i, room="r", user="u", text=f"m{i}", ts=1) for i in ids]


def ids(messages: list[Message] | None) -> list[int] | None:
    return None if messages is None else [m.id for m in messages]


@pytest.mark.parametrize(
    ("last_id", "arrivals", "applied", "hole"),
    [
        (0, [], [], 0),
        (0, [1], [1], 1),
        (0, [1, 2, 3], [1, 2, 3], 3),
        (7, [8], [8], 1),
        (2, [2], [], 1),  # the last one again: a repeat
        (2, [1, 2], [], 2),
        (2, [2, 3], [3], 2),
        (0, [1, 2, 1, 2, 3], [1, 2, 3], 5),  # repeats inside a run
        (3, [4, 4, 5], [4, 5], 3),
        (0, [2], [], 0),  # one id missing: a hole at once
        (0, [1, 3, 2], [1], 1),  # 3 waits, and 2 behind it
        (5, [5, 6, 8, 7], [6], 2),
        (3, [2, 5], [], 1),  # a repeat, then a hole
        (3, [9], [], 0),
    ],
)
def test_in_order_applies_the_next_id_only(
    last_id: int, arrivals: list[int], applied: list[int], hole: int
) -> None:
    run, at = in_order(last_id, rows(*arrivals))
    assert (ids(run), at) == (applied, hole)


@pytest.mark.parametrize(
    ("last_id", "waiting", "end"),
    [
        (0, [], None),
        (0, [1], None),  # next: no hole
        (0, [2], 2),
        (3, [4, 9], None),
        (3, [5], 5),
        (3, [2, 3], None),  # nothing above last_id
        (3, [3, 9], 9),  # last_id itself is not above it
        (3, [7, 5, 9], 5),  # the lowest one waiting
        (3, [9, 2, 6], 6),
    ],
)
def test_hole_end_is_the_lowest_waiting_id_past_a_hole(
    last_id: int, waiting: list[int], end: int | None
) -> None:
    assert hole_end(last_id, rows(*waiting)) == end


@pytest.mark.parametrize(
    ("last_id", "read", "end", "filled"),
    [
        (3, [], 9, None),  # the store has nothing after last_id
        (3, [5, 6], 9, None),  # retention removed 4
        (3, [3, 4], 9, None),
        (3, [4], 9, [4]),
        (3, [4, 5], 5, [4]),  # the end itself waits in the backlog
        (3, [4, 5, 6], 6, [4, 5]),
        (3, [4, 5, 6, 7, 8, 9, 10], 9, [4, 5, 6, 7, 8]),
        (3, [4, 5, 7, 8], 9, [4, 5]),  # only what continues the log
        (0, [1, 2], 3, [1, 2]),
    ],
)
def test_hole_rows_fill_up_to_the_end(
    last_id: int, read: list[int], end: int, filled: list[int] | None
) -> None:
    assert ids(hole_rows(last_id, rows(*read), end)) == filled
