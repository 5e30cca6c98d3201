"""WebSocket: a stream of ``message`` frames from a cursor, and publishing over the socket.

aiohttp does the handshake and reads client frames (unmasking, reassembly,
the 1009 close for a message over ``max_body``). Server frames are written
pre-encoded through the subscriber's outbox: the same bytes for every socket.
Control frames that aiohttp itself sends (pong, close) are whole frames too,
so the two writers never interleave inside a frame.
"""

from __future__ import annotations

import asyncio
from functools import partial

from aiohttp import WSCloseCode, WSMsgType, web

from hubbub.committer import Committed
from hubbub.errors import InvalidMessage, ProtocolError, Unavailable
from hubbub.hub import Subscriber
from hubbub.node import Node
from hubbub.outbox import Outbox
from hubbub.protocol.cursors import parse_cursor
from hubbub.protocol.encoding import ws_ack, ws_close_frame, ws_error
from hubbub.protocol.messages import client_id_of, parse_json_object, validate_publish
from hubbub.settings import Settings
from hubbub.transports.http import client_key, node_of
from hubbub.transports.streams import drainer, hold_open

# RFC 6455 section 7.4.1 / IANA registry: 1013 "Try Again Later".
CLOSE_TRY_AGAIN_LATER = 1013
# How long a slow consumer may take to read its close frame before the socket is cut.
SLOW_CLOSE_GRACE = 5.0


def close_slow_consumer(transport: asyncio.Transport) -> None:
    """Close 1013 after what is buffered; cut the socket if the peer still does not read."""
    transport.write(ws_close_frame(CLOSE_TRY_AGAIN_LATER, "slow consumer"))
    transport.close()
    asyncio.get_running_loop().call_later(SLOW_CLOSE_GRACE, transport.abort)


async def accept_websocket(
    request: web.Request, settings: Settings, *, autoping: bool, heartbeat: float | None
) -> tuple[web.WebSocketResponse, asyncio.Transport | None]:
    """Complete the handshake; the transport is None if the peer is already gone."""
    ws = web.WebSocketResponse(
        autoping=autoping,
        heartbeat=heartbeat,
        compress=False,  # frames are shared bytes; per-socket compression would undo that
        max_msg_size=settings.max_body,  # aiohttp closes with 1009 past it
        timeout=min(settings.heartbeat, 5.0),
    )
    await ws.prepare(request)
    transport = request.transport
    if transport is None or transport.is_closing():
        return ws, None
    return ws, transport


def is_websocket_upgrade(request: web.Request) -> bool:
    return request.headers.get("Upgrade", "").strip().lower() == "websocket"


class _Session:
    """One WebSocket connection: its subscriber and what its client publishes."""

    def __init__(
        self,
        node: Node,
        room: str,
        ws: web.WebSocketResponse,
        transport: asyncio.Transport,
        sub: Subscriber,
        ws_request: web.Request,
    ) -> None:
        self.node = node
        self.room = room
        self.ws = ws
        self.transport = transport
        self.sub = sub
        self.client = client_key(ws_request)
        self.closing: asyncio.Task[bool] | None = None

    def refuse(self, error: ProtocolError, client_id: str | None) -> None:
        self.node.stats.rejected[error.code] += 1
        self.sub.outbox.push(ws_error(error.code, error.message, client_id))

    def on_text(self, data: str) -> None:
        """A client frame: a publish is queued at once so ids follow frame order."""
        client_id = None
        try:
            fields = parse_json_object(data, "frame")
            client_id = client_id_of(fields)
            if fields.get("type") != "publish":
                raise InvalidMessage('unknown frame type: send {"type": "publish", ...}')
            publish = validate_publish(self.room, fields, self.node.settings.max_text)
            if self.node.closing:
                raise Unavailable("the server is shutting down")
            self.node.check_rate(self.client)
        except ProtocolError as error:
            self.refuse(error, client_id)
            return
        future = self.node.submit(publish)
        future.add_done_callback(partial(self.on_committed, publish.client_id))

    def on_committed(self, client_id: str | None, future: asyncio.Future[Committed]) -> None:
        if future.cancelled():
            return
        error = future.exception()
        if isinstance(error, ProtocolError):
            self.refuse(error, client_id)
        elif error is None:
            self.sub.outbox.push(ws_ack(future.result().message, client_id))

    def on_end(self, done: asyncio.Future[str]) -> None:
        """The server ends this stream: going away at shutdown, cut when dead."""
        reason = done.result()
        if reason == "shutdown":
            close = self.ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutting down")
            self.closing = asyncio.get_running_loop().create_task(close)
        elif reason == "timeout":
            self.transport.abort()


async def websocket_stream(request: web.Request, room: str) -> web.WebSocketResponse:
    node = node_of(request)
    cursor = parse_cursor(request.query.get("since"))  # a bad cursor is a 400, before the upgrade
    settings = node.settings
    # We answer pings ourselves and see every pong (liveness, node._heartbeat).
    ws, transport = await accept_websocket(request, settings, autoping=False, heartbeat=None)
    if transport is None:
        return ws
    loop = asyncio.get_running_loop()

    def overflow() -> None:
        node.stats.slow_consumers_dropped += 1
        close_slow_consumer(transport)
        sub.end("slow")

    outbox = Outbox(transport, node.scheduler, limit=settings.outbox_limit, on_overflow=overflow)
    sub = Subscriber(room, "ws", outbox, loop.time())
    session = _Session(node, room, ws, transport, sub, request)
    sub.done.add_done_callback(session.on_end)
    stream = loop.create_task(hold_open(node, sub, cursor, drainer(request, settings.heartbeat)))
    try:
        await _receive(session, loop)
    finally:
        sub.end("gone")
        await stream
        if session.closing is not None:
            await session.closing
    return ws


async def _receive(session: _Session, loop: asyncio.AbstractEventLoop) -> None:
    ws = session.ws
    while True:
        msg = await ws.receive()
        session.sub.last_seen = loop.time()
        if msg.type is WSMsgType.TEXT:
            session.on_text(msg.data)
        elif msg.type is WSMsgType.PING:
            await ws.pong(msg.data)
        elif msg.type is WSMsgType.PONG:
            continue
        elif msg.type is WSMsgType.BINARY:
            await ws.close(code=WSCloseCode.UNSUPPORTED_DATA, message=b"binary frames")
            return
        else:  # CLOSE, CLOSING, CLOSED, ERROR (aiohttp has closed with 1009 etc.)
            return
