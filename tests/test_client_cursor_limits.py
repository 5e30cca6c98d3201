"""The client's cursor rules at their edges (``hubbub.client.cursor``), no server.

tests/test_client_cursor.py tells each rule's story; here each is pinned from both
sides: one id missing is a gap and none missing is not, a cursor at 1 of another epoch
is a reset as much as one at 10, and every gap carries the epoch it was found in.
"""

from __future__ import annotations

import pytest

from hubbub.client import Gap, Message, Page
from hubbub.client.cursor import Cursor


def msg(id: int) -> Message:
    return Message(id=id, room="r", user="u", text="t", ts=1)


def page(ids: list[int], first_id: int, last_id: int, epoch: str | None = None) -> Page:
    return Page(tuple(msg(i) for i in ids), first_id, last_id, epoch)


def test_a_cursor_is_a_whole_number_from_0() -> None:
    assert Cursor(0).position == 0
    with pytest.raises(ValueError, match=r"^a cursor is a whole number >= 0$"):
        Cursor(-1)


def test_a_connection_needs_a_known_position() -> None:
    """``query`` before the position is known is a bug in the subscription, said so."""
    with pytest.raises(AssertionError, match=r"^a connection always starts from a known cursor$"):
        Cursor().query()


@pytest.mark.parametrize(
    ("position", "arrival", "events"),
    [
        (2, 3, [msg(3)]),  # the next id: no gap
        (2, 4, [Gap(2, 4, 4), msg(4)]),  # one id missing: a gap
        (2, 9, [Gap(2, 9, 9), msg(9)]),
        (0, 1, [msg(1)]),
        (0, 2, [Gap(0, 2, 2), msg(2)]),
        (2, 2, []),
        (2, 1, []),
    ],
)
def test_a_jump_of_one_id_is_a_gap(position: int, arrival: int, events: list[object]) -> None:
    cursor = Cursor(position)
    assert cursor.message(msg(arrival)) == events
    assert cursor.position == max(position, arrival)


def test_a_jump_gap_carries_the_cursors_epoch() -> None:
    cursor = Cursor(2, "e1")
    assert cursor.message(msg(4)) == [Gap(2, 4, 4, epoch="e1"), msg(4)]
    assert cursor.message(msg(6))[0].epoch == "e1"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("position", "first_id", "gap"),
    [
        (1, 2, None),  # first_id - 1 is the cursor: nothing lost
        (1, 3, Gap(1, 3, 5, epoch="e")),  # one id lost
        (0, 1, None),
        (0, 2, Gap(0, 2, 5, epoch="e")),
        (4, 3, None),
    ],
)
def test_retention_gap_from_one_lost_id(position: int, first_id: int, gap: Gap | None) -> None:
    """A gap as soon as one id the cursor has not seen is gone, with the log's epoch."""
    cursor = Cursor(position, "e")
    assert cursor.bounds(first_id, 5, "e") == gap
    assert cursor.position == (position if gap is None else first_id - 1)
    assert cursor.epoch == "e"


@pytest.mark.parametrize(
    ("position", "reset"),
    [(0, False), (1, True), (2, True), (10, True)],
)
def test_another_epoch_is_a_reset_from_position_1(position: int, reset: bool) -> None:
    """A cursor that saw message 1 of epoch a, answered by epoch b: a reset (the client
    must not skip message 1 of the new log); a cursor that saw nothing loses nothing."""
    cursor = Cursor(position, "a")
    gap = cursor.bounds(1, 20, "b")
    assert gap == (Gap(position, 1, 20, reset=True, epoch="b") if reset else None)
    assert (cursor.position, cursor.epoch) == (0 if reset else position, "b")


def test_a_poll_page_continuing_from_0_is_no_gap() -> None:
    """Retention moved first_id past what was read: the page still continues cursor 0."""
    cursor = Cursor(0)
    assert cursor.page(page([1, 2], 3, 5)) == [msg(1), msg(2)]
    assert cursor.position == 2


@pytest.mark.parametrize(
    ("known", "answered", "kept"),
    [(None, "e1", "e1"), ("e1", None, "e1"), ("e1", "e1", "e1"), (None, None, None)],
)
def test_a_continuing_poll_page_learns_the_epoch(
    known: str | None, answered: str | None, kept: str | None
) -> None:
    """A page that continues the cursor names its epoch; a page naming none keeps it."""
    cursor = Cursor(3, known)
    assert cursor.page(page([4], 1, 4, answered)) == [msg(4)]
    assert (cursor.position, cursor.epoch) == (4, kept)
