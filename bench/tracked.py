"""Objects the cyclic collector tracks per idle ``GET /ws`` user with two rooms (issue 19).

    .venv/bin/python -m bench.tracked --users 2000

One server in this process (the default SQLite store, in a scratch directory), ``users``
sockets each subscribed to a personal room and a group room of ten, all live and idle;
``gc.get_objects()`` counted after a full collection before and after they connect (the
client sockets run in a child process, so only the server's objects are counted).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import sys
import tempfile
from collections.abc import AsyncIterator

import uvloop

from hubbub.server import Server
from hubbub.settings import Settings


def tracked() -> int:
    gc.collect()
    return len(gc.get_objects())


CLIENT = """
import asyncio, sys
from bench.ws_idle import open_many_rooms
asyncio.run(open_many_rooms(int(sys.argv[1]), int(sys.argv[2])))
"""


@contextlib.asynccontextmanager
async def idle_users(
    port: int, users: int, timeout: float, cwd: str | None = None
) -> AsyncIterator[None]:
    """``users`` idle sockets on ``port`` from a child process, each live on its personal
    and its group room while the block runs; the child is stopped by its pid after."""
    client = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CLIENT, str(port), str(users), cwd=cwd, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert client.stdout is not None
        # "ready" once every socket got its ready and presence frames for both rooms.
        ready = await asyncio.wait_for(client.stdout.readline(), timeout)
        assert ready.strip() == b"ready", ready
        yield
    finally:
        client.kill()
        await client.wait()


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="hubbub-tracked-") as scratch:
        cap = args.users + 100
        settings = Settings(
            port=0,
            db=os.path.join(scratch, "hubbub.db"),
            heartbeat=3600.0,
            max_connections=cap,
            max_connections_per_ip=cap,
        )
        async with Server(settings) as server:
            before = tracked()
            async with idle_users(server.port, args.users, 300):
                after = tracked()
    per_user = (after - before) / args.users
    print(
        f"{args.users} idle GET /ws users, 2 rooms each: {after - before:,} objects tracked "
        f"by the collector, {per_user:.1f} per user"
    )


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=2000)
    return parser.parse_args()


if __name__ == "__main__":
    uvloop.run(main(parse()))
