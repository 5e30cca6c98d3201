"""``GET /ws-echo``: a WebSocket that echoes every message, for conformance testing only.

Autobahn|Testsuite's fuzzing client needs an echo peer. This one is hubbub's WebSocket stack
and nothing else: the same handshake, origin check, version check, size and fragment limits
and strict frame reader as the room sockets (``accept_websocket``), with no room behind it.
The lean path serves it too (``front/ws_echo.py``), unless ``--no-lean-http``.
It exists only when ``Settings.ws_echo`` is set (tests, ``python -m tests.autobahn``); no
``hubbub serve`` flag turns it on.
"""

from __future__ import annotations

from aiohttp import WSMsgType, web

from hubbub.front.head import ECHO_PATH as ECHO_PATH  # where tests find it
from hubbub.transports.http import node_of
from hubbub.transports.websocket import accept_websocket


async def ws_echo(request: web.Request) -> web.WebSocketResponse:
    """Send back each text and binary message as it came; aiohttp answers pings."""
    ws, transport = await accept_websocket(
        request, node_of(request).settings, autoping=True, heartbeat=None
    )
    if transport is None:
        return ws
    async for msg in ws:
        if msg.type is WSMsgType.TEXT:
            await ws.send_str(msg.data)
        elif msg.type is WSMsgType.BINARY:
            await ws.send_bytes(msg.data)
    return ws


def add_ws_echo_route(app: web.Application) -> None:
    app.router.add_get(ECHO_PATH, ws_echo)
