"""``GET /ws``: one WebSocket that carries many rooms.

Each ``subscribe`` frame starts a :class:`Subscription`, a stream of one room
that writes through the connection's one outbox, so it is served by
``streams.py`` exactly as a per-room WebSocket is: its own cursor, gap, epoch
and ``ready``, the same catch-up and the same shared frames once live. Only
its frames' shape differs (``WS_MULTI``: message frames name their room at the
top level). Liveness is the connection's: aiohttp pings every heartbeat and
closes a peer whose pong does not come within half of one.
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any

import orjson
from aiohttp import WSCloseCode, WSMsgType, web

from hubbub.errors import InvalidMessage, InvalidParameter, InvalidRoom, ProtocolError
from hubbub.hub import Outbox, Stream
from hubbub.node import Node
from hubbub.principal import Principal
from hubbub.protocol.cursors import Cursor, parse_cursor
from hubbub.protocol.encoding import WS_MULTI, ws_frame
from hubbub.protocol.messages import (
    client_id_of,
    parse_json_object,
    validate_publish,
    validate_room,
    validate_user,
)
from hubbub.store.committer import Committed
from hubbub.streams import Drain
from hubbub.transports.chat import presence_user
from hubbub.transports.http import OUTBOX, node_of, principal_of
from hubbub.transports.streams import drainer
from hubbub.transports.websocket import (
    PUBLISH_FRAMES,
    accept_websocket,
    close_slow_consumer,
    is_websocket_upgrade,
    server_close,
)


class Subscription(Stream):
    """One room of a ``GET /ws`` connection."""

    __slots__ = ()

    def release(self) -> None:
        """The connection's outbox stays open for its other rooms."""


def frame_cursor(fields: dict[str, Any]) -> Cursor | None:
    """``since`` (a JSON number) and ``epoch`` of a subscribe frame, as a query would give."""
    since, epoch = fields.get("since"), fields.get("epoch")
    if since is None:
        return None
    if isinstance(since, bool) or not isinstance(since, int):
        raise InvalidParameter("since must be a whole number")
    if epoch is not None and not isinstance(epoch, str):
        raise InvalidParameter("epoch must be a string")
    query = {"since": str(since)}
    if epoch is not None:
        query["epoch"] = epoch
    return parse_cursor(query)


class Connection:
    """A ``GET /ws`` socket: its subscriptions by room, and what its client sends."""

    def __init__(
        self,
        node: Node,
        ws: web.WebSocketResponse,
        outbox: Outbox,
        principal: Principal,
        user: str | None,
        drain: Drain,
    ) -> None:
        self.node = node
        self.ws = ws
        self.outbox = outbox
        self.principal = principal
        self.user = user
        self.drain = drain
        self.subscriptions: dict[str, tuple[Subscription, asyncio.Task[str]]] = {}
        self.closing: asyncio.Task[bool] | None = None

    def send(self, frame: dict[str, Any]) -> None:
        self.outbox.push(ws_frame(orjson.dumps(frame)))

    def refuse(self, error: ProtocolError, room: str | None, client_id: str | None) -> None:
        self.node.stats.rejected[error.code] += 1
        frame: dict[str, Any] = {"type": "error", "code": error.code, "message": error.message}
        if room is not None:
            frame["room"] = room
        if client_id is not None:
            frame["client_id"] = client_id
        self.send(frame)

    def on_text(self, data: str) -> None:
        room = client_id = None
        try:
            fields = parse_json_object(data, "frame")
            client_id = client_id_of(fields)
            raw_room = fields.get("room")
            if not isinstance(raw_room, str):
                raise InvalidRoom("every frame on /ws names its room")
            room = raw_room
            validate_room(room)
            kind = fields.get("type")
            if kind == "subscribe":
                self.subscribe(room, frame_cursor(fields))
            elif kind == "unsubscribe":
                self.unsubscribe(room)
            elif kind == "typing":
                self.typing(room, fields)
            elif kind in PUBLISH_FRAMES:
                self.publish(room, fields)
            else:
                raise InvalidMessage(
                    "type must be subscribe, unsubscribe, publish, edit, delete or typing"
                )
        except ProtocolError as error:
            self.refuse(error, room, client_id)

    def subscribe(self, room: str, cursor: Cursor | None) -> None:
        if room in self.subscriptions:
            raise InvalidMessage(f"already subscribed to {room}: unsubscribe first")
        limit = self.node.settings.max_subscriptions
        if len(self.subscriptions) >= limit:
            raise InvalidMessage(f"at most {limit} subscriptions per connection")
        self.node.check_stream(self.principal, room)
        loop = asyncio.get_running_loop()
        stream = Subscription(room, WS_MULTI, self.outbox, self.principal, loop.time())
        stream.user = self.user
        task = loop.create_task(self.node.run_stream(stream, cursor, self.drain))
        self.subscriptions[room] = (stream, task)
        stream.done.add_done_callback(self.on_end)
        task.add_done_callback(partial(self.on_finished, room, stream))

    def unsubscribe(self, room: str) -> None:
        entry = self.subscriptions.pop(room, None)
        if entry is None:
            raise InvalidMessage(f"not subscribed to {room}")
        stream = entry[0]
        stream.end("unsubscribed")
        # Out of the room now, in this step: nothing of the room follows this frame.
        self.node.streams.detach(stream)
        self.send({"type": "unsubscribed", "room": room, "reason": "unsubscribed"})

    def on_end(self, done: asyncio.Future[str]) -> None:
        """A subscription ended by the server: a shutdown, or an admin's disconnect of the
        user, closes the whole connection."""
        reason = done.result()
        if reason in ("shutdown", "disconnected"):
            self.close(reason)

    def close(self, reason: str) -> None:
        """Close the connection with the code of ``reason`` (``server_close``)."""
        close = server_close(reason)
        if close is None or self.closing is not None:
            return
        code, message = close
        closing = self.ws.close(code=code, message=message.encode())
        self.closing = asyncio.get_running_loop().create_task(closing)

    def on_finished(self, room: str, stream: Subscription, task: asyncio.Task[str]) -> None:
        if self.subscriptions.get(room, (None,))[0] is stream:
            del self.subscriptions[room]
        reason = None if task.cancelled() or task.exception() else task.result()
        if reason in ("reset", "gap"):
            # The room's log started over (or lost what it was sending): subscribe again
            # with the cursor, and the new ready or gap tells exactly what was lost.
            self.send({"type": "unsubscribed", "room": room, "reason": reason})

    def publish(self, room: str, fields: dict[str, Any]) -> None:
        node = self.node
        publish = validate_publish(
            room, fields, node.settings.max_text, user_required=node.user_required
        )
        future = self.node.submit(self.principal, publish)
        future.add_done_callback(partial(self.on_committed, room, publish.client_id))

    def on_committed(
        self, room: str, client_id: str | None, future: asyncio.Future[Committed]
    ) -> None:
        if future.cancelled():
            return
        error = future.exception()
        if isinstance(error, ProtocolError):
            self.refuse(error, room, client_id)
        elif error is None:
            frame: dict[str, Any] = {"type": "ack", "room": room}
            if client_id is not None:
                frame["client_id"] = client_id
            frame["message"] = future.result().message.message.to_dict()
            self.send(frame)

    def typing(self, room: str, fields: dict[str, Any]) -> None:
        user = self.user
        if user is None and "user" in fields:
            user = self.node.presence_name(self.principal, validate_user(fields["user"]))
        if user is None:
            raise InvalidMessage("typing needs a name: ?user= on /ws, or user in the frame")
        self.node.typing_notice(self.principal, room, user)

    async def end(self) -> None:
        """The socket is gone: end every subscription and wait for each to detach."""
        tasks = []
        for stream, task in tuple(self.subscriptions.values()):
            stream.end("gone")
            tasks.append(task)
        await asyncio.gather(*tasks, return_exceptions=True)


async def multiplex(request: web.Request) -> web.StreamResponse:
    """``GET /ws``: refused with ``400`` unless it is a WebSocket upgrade."""
    if not is_websocket_upgrade(request):
        raise InvalidParameter("GET /ws is a WebSocket: send Upgrade: websocket")
    node = node_of(request)
    user = presence_user(request)
    principal = principal_of(request)
    settings = node.settings
    ws, transport = await accept_websocket(
        request, settings, autoping=True, heartbeat=settings.heartbeat
    )
    if transport is None:
        return ws

    def overflow() -> None:
        node.stats.slow_consumers_dropped += 1
        close_slow_consumer(transport)
        for stream, _ in tuple(connection.subscriptions.values()):
            stream.end("slow")

    outbox = Outbox(transport, node.scheduler, limit=settings.outbox_limit, on_overflow=overflow)
    request[OUTBOX] = outbox  # its bytes, for the access log
    drain = drainer(request, settings.heartbeat)
    connection = Connection(node, ws, outbox, principal, user, drain)
    # Registered as a connection of its user, so a disconnect closes it with no room too.
    release = node.hold_connection(user, partial(connection.close, "disconnected"))
    try:
        async for msg in ws:
            if msg.type is WSMsgType.TEXT:
                connection.on_text(msg.data)
            elif msg.type is WSMsgType.BINARY:
                await ws.close(code=WSCloseCode.UNSUPPORTED_DATA, message=b"binary frames")
                break
    finally:
        release()
        await connection.end()
        outbox.close()
        if connection.closing is not None:
            await connection.closing
    return ws
