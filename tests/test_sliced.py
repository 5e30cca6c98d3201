"""The heartbeat's round a slice per loop iteration (issue 19: 15,000 pings at once
stalled the loop for 130-190 ms)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bench.tracked import idle_users

from hubbub.front.multiplex import MultiplexSocket
from hubbub.sliced import SLICE, SlicedRound
from tests.conftest import StartServer

ROOT = Path(__file__).resolve().parent.parent


async def test_a_round_visits_a_slice_per_loop_iteration() -> None:
    visited: list[int] = []
    gone = {7, 600}
    sliced = SlicedRound(
        asyncio.get_running_loop(), visited.append, lambda item: item not in gone, size=500
    )
    assert sliced.start(range(1200))
    assert len(visited) == 499 and sliced.running  # the first slice at once, 7 skipped
    assert not sliced.start(range(5))  # one round at a time
    await asyncio.sleep(0)
    assert len(visited) == 998
    await asyncio.sleep(0)
    assert visited == [i for i in range(1200) if i not in gone]
    assert not sliced.running
    assert sliced.start([1, 2]) and visited[-2:] == [1, 2]


async def test_the_node_pings_its_sockets_a_slice_per_iteration(
    start_server: StartServer,
) -> None:
    """A real server with 1,200 idle GET /ws users (two rooms each, from a child process):
    a heartbeat round that finds every socket due a ping pings at most a slice of them
    per loop iteration, and all of them by its end."""
    users = 1200
    cap = users + 100
    server = await start_server(heartbeat=3600.0, max_connections=cap, max_connections_per_ip=cap)
    async with idle_users(server.port, users, 60, cwd=str(ROOT)):
        streams = server.node.streams
        sockets = [s for s in streams.kept_alive if isinstance(s, MultiplexSocket)]
        assert len(sockets) == users
        now = asyncio.get_running_loop().time() + 3600.0  # a heartbeat on: all due

        def pinged() -> int:
            return sum(1 for s in sockets if s.last_ping == now)

        ticking, subscriptions = len(streams.ticking), len(streams.open)
        streams.tick(now, 3600.0)
        counts = [pinged()]
        while counts[-1] < users and len(counts) < 20:
            await asyncio.sleep(0)
            counts.append(pinged())
    steps = [b - a for a, b in zip([0, *counts], counts, strict=False)]
    assert counts[-1] == users
    assert max(steps) <= SLICE
    # The round visits the sockets alone: their subscriptions keep nothing alive
    # themselves (it took 15 iterations when it visited them too).
    assert ticking == 0 and subscriptions == 2 * users
    assert len(counts) <= -(-users // SLICE) + 1
