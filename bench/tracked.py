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
import gc
import os
import sys
import tempfile

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
            client = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                CLIENT,
                str(server.port),
                str(args.users),
                stdout=asyncio.subprocess.PIPE,
            )
            assert client.stdout is not None
            ready = await asyncio.wait_for(client.stdout.readline(), 300)
            assert ready.strip() == b"ready", ready
            after = tracked()
            client.terminate()
            await client.wait()
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
