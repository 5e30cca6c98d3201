"""websockets peer: one set of connections per room and ``websockets.broadcast()``.

The shape the websockets docs recommend for fan-out (``docs/topics/broadcast.rst``):
encode once, hand the frame to every connection without awaiting any of them. Run as
``python -m bench.peers.py_websockets --port 0``; it prints the readiness line hubbub
prints. Publishing is over WebSocket only: websockets' server does not read request bodies.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import signal
import sys

import orjson
import uvloop
from websockets.asyncio.server import ServerConnection, broadcast, serve

_ROOM_PATH = re.compile(r"^/rooms/([A-Za-z0-9_.-]{1,64})/messages(?:\?.*)?$")


class Rooms:
    """Room name -> the connections subscribed to it."""

    def __init__(self) -> None:
        self.subs: dict[str, set[ServerConnection]] = {}

    async def handler(self, ws: ServerConnection) -> None:
        match = _ROOM_PATH.match(ws.request.path if ws.request else "")
        if match is None:
            await ws.close(1008)
            return
        room = match.group(1)
        subs = self.subs.setdefault(room, set())
        subs.add(ws)
        try:
            async for data in ws:
                try:
                    pub = orjson.loads(data)
                except orjson.JSONDecodeError:
                    continue
                frame = orjson.dumps(
                    {
                        "type": "message",
                        "message": {
                            "room": room,
                            "user": pub.get("user"),
                            "text": pub.get("text"),
                            "client_id": pub.get("client_id"),
                        },
                    }
                ).decode()
                broadcast(subs, frame)
                await ws.send(
                    orjson.dumps({"type": "ack", "client_id": pub.get("client_id")}).decode()
                )
        finally:
            subs.discard(ws)
            if not subs:
                self.subs.pop(room, None)


async def main(port: int) -> None:
    rooms = Rooms()
    stop = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set_result, None)
    # compression=None: no bench client negotiates permessage-deflate, and no peer uses it.
    # ping_interval=None: no heartbeat traffic inside a bench run, as for every server.
    async with serve(
        rooms.handler,
        "127.0.0.1",
        port,
        compression=None,
        ping_interval=None,
        max_size=64 * 1024,
        max_queue=None,
    ) as server:
        real_port = server.sockets[0].getsockname()[1] if server.sockets else port
        print(
            f"py-websockets listening on http://127.0.0.1:{real_port}", file=sys.stderr, flush=True
        )
        await stop


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    uvloop.run(main(parser.parse_args().port))
