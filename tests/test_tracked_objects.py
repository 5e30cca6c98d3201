"""Cheap subscriptions (issue 19): an idle ``GET /ws`` user with two rooms costs the
cyclic collector at most 25 tracked objects, its share of the rooms included.

The chat shape, as ``bench/tracked.py`` measures it: a real server on port 0 in this
process, and a child process (stopped by its pid) holding some hundreds of real sockets,
user ``i`` subscribed to its personal room ``p<i>`` and to ``g<i // 10>``, a group room of
ten. ``gc.get_objects()`` after a full collection, before and after they are all live:
the difference is the server's objects only, since the clients live in the child.
"""

from __future__ import annotations

from pathlib import Path

from bench.tracked import idle_users, tracked

from tests.conftest import StartServer

USERS = 300
# The bound, per user: its socket, two subscriptions, and its share of the rooms.
MOST_PER_USER = 25
ROOT = Path(__file__).resolve().parent.parent


async def test_an_idle_user_with_two_rooms_costs_at_most_25_tracked_objects(
    start_server: StartServer,
) -> None:
    # No ping in the measurement (a ping makes nothing that stays, but it need not run).
    cap = USERS + 100
    server = await start_server(heartbeat=3600.0, max_connections=cap, max_connections_per_ip=cap)
    before = tracked()
    async with idle_users(server.port, USERS, 30, cwd=str(ROOT)):
        after = tracked()
        # Counted while they were live: the server held every subscription.
        live = len(server.node.streams.open)
    assert live == 2 * USERS
    per_user = (after - before) / USERS
    assert per_user <= MOST_PER_USER, (
        f"{per_user:.1f} objects tracked by the collector per idle user with two rooms"
    )
