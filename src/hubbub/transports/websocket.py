"""WebSocket: a stream of ``message`` frames from a cursor, and publishing over the socket.

aiohttp does the handshake and reads client frames (unmasking, reassembly,
the 1009 close for a message over ``max_body``). Server frames are written
pre-encoded through the stream's outbox: the same bytes for every socket.
Control frames that aiohttp itself sends (pong, close) are whole frames too,
so the two writers never interleave inside a frame.
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from hubbub.errors import InvalidMessage, InvalidRequest, ProtocolError, UpgradeRequired
from hubbub.hub import Outbox, Stream
from hubbub.node import Node
from hubbub.protocol.cursors import parse_cursor
from hubbub.protocol.encoding import WS, WS_PING_FRAME, ws_ack, ws_close_frame, ws_error
from hubbub.protocol.messages import (
    client_id_of,
    parse_json_object,
    validate_publish,
    validate_user,
)
from hubbub.settings import Settings
from hubbub.store.committer import Committed
from hubbub.transports.chat import presence_user
from hubbub.transports.http import OUTBOX, node_of, principal_of
from hubbub.transports.origins import check_origin
from hubbub.transports.streams import drainer
from hubbub.transports.ws_strict import StrictWebSocketResponse

# RFC 6455 section 7.4.1 / IANA registry: 1013 "Try Again Later".
CLOSE_TRY_AGAIN_LATER = 1013
# IANA registry: 1012 "Service Restart": the room's log started over; reconnect.
CLOSE_SERVICE_RESTART = 1012
# Application range (RFC 6455 section 7.4.2), mirroring HTTP 401: the token expired.
CLOSE_TOKEN_EXPIRED = 4401
# Application range, mirroring HTTP 403: an admin disconnected this user; the client waits
# (docs/protocol.md: at least 30 s) before it connects again.
CLOSE_DISCONNECTED = 4403
# Client frames that append to the room's log (docs/protocol.md, "Edits and deletes").
PUBLISH_FRAMES = ("publish", "edit", "delete")
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
    """Complete the handshake; the transport is None if the peer is already gone.

    Refusals come before the upgrade, as JSON errors: a page of another origin
    (403), a version other than 13 (426), a malformed handshake (400).
    """
    check_origin(request)
    if request.headers.get("Sec-WebSocket-Version", "").strip() != "13":
        raise UpgradeRequired("only WebSocket version 13 is spoken here")
    ws = StrictWebSocketResponse(
        max_fragments=settings.max_fragments,
        autoping=autoping,
        heartbeat=heartbeat,
        compress=False,  # frames are shared bytes; per-socket compression would undo that
        # aiohttp (3.14) closes with 1009 at max_msg_size bytes, not past it (its frame
        # reader checks ">="): one more, so a message of exactly max_body is taken.
        max_msg_size=settings.max_body + 1,
        timeout=min(settings.heartbeat, 5.0),
    )
    try:
        await ws.prepare(request)
    except web.HTTPBadRequest as refused:  # aiohttp's handshake checks answer in text
        raise InvalidRequest(f"websocket handshake: {refused.text}") from None
    transport = request.transport
    if transport is None or transport.is_closing():
        return ws, None
    return ws, transport


def is_websocket_upgrade(request: web.Request) -> bool:
    return request.headers.get("Upgrade", "").strip().lower() == "websocket"


class SocketStream(Stream):
    """A WebSocket stream: pinged every heartbeat, dropped after two silent ones."""

    __slots__ = ()

    def tick(self, now: float, interval: float) -> None:
        if now - self.last_seen > 2 * interval:
            self.end("timeout")
        elif now - self.last_ping >= interval:
            self.last_ping = now
            self.outbox.push(WS_PING_FRAME)


def typing_frame(node: Node, stream: Stream, fields: dict[str, Any]) -> None:
    """``{"type": "typing"}``: under the stream's ``?user=`` name, else the frame's ``user``."""
    user = stream.user
    if user is None and "user" in fields:
        user = node.presence_name(stream.principal, validate_user(fields["user"]))
    if user is None:
        raise InvalidMessage("typing needs a name: ?user= on the URL, or user in the frame")
    node.typing_notice(stream.principal, stream.room, user)


def server_close(reason: str) -> tuple[int, str] | None:
    """The close frame (code, reason) that ends a stream the server ended for ``reason``:
    going away at shutdown, reconnect after a reset or gap (the client's cursor tells it
    exactly what it lost), a fresh token after expiry, a pause after an admin's disconnect;
    None for the others."""
    if reason == "shutdown":
        return WSCloseCode.GOING_AWAY, "server shutting down"
    if reason in ("reset", "gap"):
        return CLOSE_SERVICE_RESTART, "reconnect: " + reason
    if reason == "expired":
        return CLOSE_TOKEN_EXPIRED, "token expired"
    if reason == "disconnected":
        return CLOSE_DISCONNECTED, "disconnected by an admin"
    return None


class SocketSession:
    """What a WebSocket's client sends on its stream: publishes and typing, acked or refused.

    Shared by aiohttp's sockets (``_Session``) and the lean path's (``front/websocket.py``),
    which hold ``node`` and ``stream`` in their own slots."""

    __slots__ = ()

    node: Node
    stream: Stream

    def refuse(self, error: ProtocolError, client_id: str | None) -> None:
        self.node.stats.rejected[error.code] += 1
        self.stream.outbox.push(ws_error(error.code, error.message, client_id))

    def on_text(self, data: str) -> None:
        """A client frame: a publish is queued at once so ids follow frame order."""
        client_id = None
        stream = self.stream
        try:
            fields = parse_json_object(data, "frame")
            client_id = client_id_of(fields)
            if fields.get("type") == "typing":
                typing_frame(self.node, stream, fields)
                return
            if fields.get("type") not in PUBLISH_FRAMES:
                raise InvalidMessage('unknown frame type: send {"type": "publish", ...}')
            node = self.node
            publish = validate_publish(
                stream.room, fields, node.settings.max_text, user_required=node.user_required
            )
            future = self.node.submit(stream.principal, publish)
        except ProtocolError as error:
            self.refuse(error, client_id)
            return
        future.add_done_callback(partial(self.on_committed, publish.client_id))

    def on_committed(self, client_id: str | None, future: asyncio.Future[Committed]) -> None:
        if future.cancelled():
            return
        error = future.exception()
        if isinstance(error, ProtocolError):
            self.refuse(error, client_id)
        elif error is None:
            self.stream.outbox.push(ws_ack(future.result().message, client_id))


class _Session(SocketSession):
    """One aiohttp WebSocket connection: its stream and what its client publishes."""

    __slots__ = ("closing", "node", "stream", "transport", "ws")

    def __init__(
        self, node: Node, ws: web.WebSocketResponse, transport: asyncio.Transport, stream: Stream
    ) -> None:
        self.node = node
        self.stream = stream
        self.ws = ws
        self.transport = transport
        self.closing: asyncio.Task[bool] | None = None

    def on_end(self, done: asyncio.Future[str]) -> None:
        """The server ends this stream: closed with a code, or cut when dead."""
        reason = done.result()
        close = server_close(reason)
        if close is not None:
            code, message = close
            closing = self.ws.close(code=code, message=message.encode())
            self.closing = asyncio.get_running_loop().create_task(closing)
        elif reason == "timeout":
            self.transport.abort()


async def websocket_stream(request: web.Request, room: str) -> web.WebSocketResponse:
    node = node_of(request)
    cursor = parse_cursor(request.query)  # a bad cursor is a 400, before the upgrade
    user = presence_user(request)
    principal = principal_of(request)
    node.check_stream(principal, room)  # refused before the upgrade, too
    settings = node.settings
    # We answer pings ourselves and see every pong (liveness: SocketStream.tick).
    ws, transport = await accept_websocket(request, settings, autoping=False, heartbeat=None)
    if transport is None:
        return ws
    loop = asyncio.get_running_loop()

    def overflow() -> None:
        node.stats.slow_consumers_dropped += 1
        close_slow_consumer(transport)
        stream.end("slow")

    outbox = Outbox(transport, node.scheduler, limit=settings.outbox_limit, on_overflow=overflow)
    request[OUTBOX] = outbox  # its bytes, for the access log
    stream = SocketStream(room, WS, outbox, principal, loop.time())
    stream.user = user
    session = _Session(node, ws, transport, stream)
    stream.done.add_done_callback(session.on_end)
    running = loop.create_task(
        node.run_stream(stream, cursor, drainer(request, settings.heartbeat))
    )
    try:
        await _receive(session, loop)
    finally:
        stream.end("gone")
        await running
        if session.closing is not None:
            await session.closing
    return ws


async def _receive(session: _Session, loop: asyncio.AbstractEventLoop) -> None:
    ws = session.ws
    while True:
        msg = await ws.receive()
        session.stream.last_seen = loop.time()
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
