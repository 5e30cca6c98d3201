"""python-socketio peer on uvicorn: rooms via ``enter_room``, broadcast via ``emit(to=room)``.

Clients connect straight over WebSocket and name their room in the query string, as with
the Node Socket.IO peer. HTTP publish (``POST /rooms/{room}/messages``) is a tiny ASGI
route in front of the Socket.IO app. Run as ``python -m bench.peers.py_socketio --port 0``.
"""

from __future__ import annotations

import argparse
import re
import socket
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

import orjson
import socketio  # type: ignore[import-untyped]
import uvicorn

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_ROOM_PATH = re.compile(r"^/rooms/([A-Za-z0-9_.-]{1,64})/messages$")

# No heartbeat traffic inside a bench run, as for every server (see bench/README.md).
sio = socketio.AsyncServer(
    async_mode="asgi",
    transports=["websocket"],
    ping_interval=300,
    ping_timeout=300,
    max_http_buffer_size=64 * 1024,
)
_room_of: dict[str, str] = {}


async def connect(sid: str, environ: dict[str, Any]) -> None:
    query = parse_qs(environ.get("QUERY_STRING", ""))
    room = query.get("room", ["lobby"])[0]
    _room_of[sid] = room
    await sio.enter_room(sid, room)


async def disconnect(sid: str, *_: Any) -> None:
    _room_of.pop(sid, None)


async def _broadcast(room: str, pub: dict[str, Any]) -> None:
    message = {
        "room": room,
        "user": pub.get("user"),
        "text": pub.get("text"),
        "client_id": pub.get("client_id"),
    }
    await sio.emit("message", message, to=room)


async def publish(sid: str, pub: dict[str, Any]) -> dict[str, Any]:
    await _broadcast(_room_of.get(sid, "lobby"), pub)
    return {"client_id": pub.get("client_id")}


# Registered by call, not decorator: python-socketio is untyped.
sio.on("connect", connect)
sio.on("disconnect", disconnect)
sio.on("publish", publish)
_sio_app = socketio.ASGIApp(sio)


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """HTTP publish route, everything else to Socket.IO."""
    match = _ROOM_PATH.match(scope.get("path", "")) if scope["type"] == "http" else None
    if match is None or scope.get("method") != "POST":
        await _sio_app(scope, receive, send)
        return
    body = b""
    while True:
        event = await receive()
        body += event.get("body", b"")
        if not event.get("more_body"):
            break
    pub = orjson.loads(body)
    await _broadcast(match.group(1), pub)
    reply = orjson.dumps({"client_id": pub.get("client_id")})
    await send(
        {
            "type": "http.response.start",
            "status": 201,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": reply})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    port = parser.parse_args().port
    # Bind first so that port 0 is resolved before uvicorn starts; uvicorn's own log
    # would print the requested port, not the real one.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(4096)
    real_port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        loop="uvloop",
        http="auto",
        ws="websockets-sansio",
        log_level="warning",
        access_log=False,
        lifespan="off",
        ws_ping_interval=None,
        ws_per_message_deflate=False,
        backlog=4096,
    )
    server = uvicorn.Server(config)
    print(f"py-socketio listening on http://127.0.0.1:{real_port}", file=sys.stderr, flush=True)
    server.run(sockets=[sock])


if __name__ == "__main__":
    main()
