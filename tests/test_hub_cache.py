"""The room's recent-message cache: contiguous, bounded, never serving what retention removed."""

from __future__ import annotations

from hubbub.hub import RECENT_CACHE, Room
from hubbub.protocol.cursors import Bounds
from hubbub.protocol.encoding import EncodedMessage
from hubbub.protocol.messages import Message


def encoded(id_: int) -> EncodedMessage:
    return EncodedMessage(Message(id_, "r", "u", f"m{id_}", 0), "")


def fill(room: Room, first: int, last: int, retain: int | None = None) -> None:
    for id_ in range(first, last + 1):
        room.append(encoded(id_), retain)


def ids(messages: list[EncodedMessage] | None) -> list[int] | None:
    return None if messages is None else [m.id for m in messages]


def test_cached_reads_follow_the_cursor_rules() -> None:
    """after and before read from the cache when it reaches, else say None."""
    room = Room("r", Bounds())
    fill(room, 1, 10)
    assert ids(room.cached_after(7, 100)) == [8, 9, 10]
    assert ids(room.cached_after(0, 3)) == [1, 2, 3]
    assert ids(room.cached_after(10, 5)) == []
    assert ids(room.cached_before(5, 2)) == [3, 4]
    assert ids(room.cached_before(11, 100)) == list(range(1, 11))


def test_cache_is_bounded_and_falls_back_to_the_store() -> None:
    """Past RECENT_CACHE messages the oldest are dropped; older reads miss (None)."""
    room = Room("r", Bounds())
    total = RECENT_CACHE * 3
    fill(room, 1, total)
    assert len(room.recent) <= RECENT_CACHE + RECENT_CACHE // 4 + 1
    assert room.cached_after(0, 10) is None
    assert room.cached_before(5, 2) is None
    assert ids(room.cached_after(total - 2, 10)) == [total - 1, total]


def test_cache_never_serves_what_retention_removed() -> None:
    """With retain=5 the cache holds only the kept ids."""
    room = Room("r", Bounds())
    fill(room, 1, 20, retain=5)
    assert room.bounds == Bounds(16, 20)
    assert [m.id for m in room.recent] == [16, 17, 18, 19, 20]
    assert ids(room.cached_before(100, 100)) == [16, 17, 18, 19, 20]


def test_cache_after_restart_starts_empty_and_misses() -> None:
    """A room loaded from the store has no cache: reads below new ids go to the store."""
    room = Room("r", Bounds(1, 500))
    assert room.cached_after(499, 10) is None
    room.append(encoded(501), None)
    assert room.cached_after(499, 10) is None
    assert ids(room.cached_after(500, 10)) == [501]
    assert room.cached_before(502, 2) is None


def test_seeding_fills_an_empty_cache_only_up_to_the_newest() -> None:
    """A store read ending at last_id seeds an empty cache; anything else is ignored."""
    room = Room("r", Bounds(1, 10))
    room.seed([encoded(i) for i in range(5, 10)])  # does not reach last_id
    assert room.recent == []
    room.seed([encoded(i) for i in range(6, 11)])
    assert ids(room.cached_after(5, 100)) == [6, 7, 8, 9, 10]
    assert room.cached_after(4, 100) is None
