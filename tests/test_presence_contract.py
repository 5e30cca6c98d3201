"""One contract, every presence backend (memory and Redis), on the ``Presence`` seam
alone: counts per user, anonymous connections, one join per user, leaves after the grace,
a reload within it, reads of rooms without a local connection, and silence after close."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from hubbub.presence import Presence
from hubbub.presence.memory import MemoryPresence
from hubbub.presence.redis import RedisPresence
from tests.redis_server import needs_redis, running_redis

GRACE = 0.3
TIMEOUT = 10.0


class Told:
    """What a backend told ``on_change``: (room, joined, left), in order; awaitable."""

    def __init__(self) -> None:
        self.changes: list[tuple[str, list[str], list[str]]] = []
        self._changed = asyncio.Event()

    def __call__(self, room: str, joined: list[str], left: list[str]) -> None:
        self.changes.append((room, joined, left))
        self._changed.set()

    async def until(self, predicate: Callable[[], bool]) -> None:
        async with asyncio.timeout(TIMEOUT):
            while not predicate():
                self._changed.clear()
                await self._changed.wait()

    def joined(self, user: str) -> int:
        return sum(user in joined for _, joined, _ in self.changes)

    def left(self, user: str) -> int:
        return sum(user in left for _, _, left in self.changes)


@pytest.fixture(params=["memory", pytest.param("redis", marks=needs_redis)])
async def backend(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[Presence, Told]]:
    async with contextlib.AsyncExitStack() as stack:
        presence: Presence
        if request.param == "redis":
            redis = await stack.enter_async_context(running_redis(tmp_path / "redis"))
            presence = RedisPresence([redis.url], grace=GRACE, ttl=5.0)
        else:
            presence = MemoryPresence(GRACE)
        told = Told()
        presence.start(told, lambda room, user: None)
        try:
            yield presence, told
        finally:
            await presence.close()


async def test_connections_are_counted_per_user_and_anonymous(
    backend: tuple[Presence, Told],
) -> None:
    presence, told = backend
    await presence.watch("r")
    for user in ("alice", "alice", "bob", None, None):
        presence.join("r", user)
    now = presence.present("r")
    assert (now.users, now.anonymous) == ({"alice": 2, "bob": 1}, 2)
    assert (await presence.read("r")).users == {"alice": 2, "bob": 1}
    assert presence.present("elsewhere").users == {}
    await told.until(lambda: told.joined("bob") == 1)
    assert told.joined("alice") == 1  # two tabs: one join
    assert all(room == "r" for room, _, _ in told.changes)


async def test_a_user_leaves_with_their_last_connection_after_the_grace(
    backend: tuple[Presence, Told],
) -> None:
    presence, told = backend
    await presence.watch("r")
    presence.join("r", "alice")
    presence.join("r", "alice")
    presence.join("r", None)
    await told.until(lambda: told.joined("alice") == 1)
    presence.leave("r", "alice")
    presence.leave("r", None)
    assert presence.present("r").anonymous == 0
    presence.leave("r", "alice")
    assert "alice" in presence.present("r").users  # within the grace: still listed
    assert told.left("alice") == 0
    await told.until(lambda: told.left("alice") == 1)
    assert presence.present("r").users == {}


async def test_a_reload_within_the_grace_is_neither_a_leave_nor_a_join(
    backend: tuple[Presence, Told],
) -> None:
    presence, told = backend
    await presence.watch("r")
    presence.join("r", "alice")
    presence.join("r", "bob")
    await told.until(lambda: told.joined("bob") == 1)
    presence.leave("r", "alice")
    presence.join("r", "alice")  # the page reloaded
    presence.leave("r", "bob")  # bob really leaves: his leave is told after the grace
    await told.until(lambda: told.left("bob") == 1)
    assert (told.joined("alice"), told.left("alice")) == (1, 0)
    assert presence.present("r").users == {"alice": 1}


async def test_anonymous_connections_are_never_told(backend: tuple[Presence, Told]) -> None:
    presence, told = backend
    await presence.watch("r")
    presence.join("r", None)
    presence.join("r", "marker")
    presence.leave("r", None)
    presence.leave("r", "marker")
    await told.until(lambda: told.left("marker") == 1)
    assert all(set(joined + left) == {"marker"} for _, joined, left in told.changes)


async def test_nothing_is_told_after_close(backend: tuple[Presence, Told]) -> None:
    presence, told = backend
    await presence.watch("r")
    presence.join("r", "alice")
    await told.until(lambda: told.joined("alice") == 1)
    presence.leave("r", "alice")
    await presence.close()
    await presence.close()  # a second close is harmless
    # Past the grace (the backend's own deadline), the pending leave must stay silent.
    await asyncio.sleep(GRACE * 2)
    assert told.left("alice") == 0


@needs_redis
async def test_a_nodes_first_watch_lists_other_nodes_users(tmp_path: Path) -> None:
    """A room watched before the node's subscriber connection is up (here: in the step
    that starts it) still lists what the other nodes stored: a stream's first presence
    then names them (before the fix it was empty until the next snapshot)."""
    async with running_redis(tmp_path / "redis") as redis:
        first = RedisPresence([redis.url], grace=GRACE, ttl=5.0)
        first.start(Told(), lambda room, user: None)
        second = RedisPresence([redis.url], grace=GRACE, ttl=5.0)
        try:
            await first.watch("r")
            first.join("r", "alice")
            async with asyncio.timeout(TIMEOUT):  # until the first node has stored it
                while "alice" not in (await first.read("r")).users:
                    await asyncio.sleep(0.01)
            second.start(Told(), lambda room, user: None)
            await second.watch("r")  # its listener task has not run yet
            assert second.present("r").users == {"alice": 1}
        finally:
            await second.close()
            await first.close()
