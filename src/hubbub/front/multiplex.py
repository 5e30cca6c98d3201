"""``GET /ws``: one WebSocket that carries many rooms, upgraded by the front.

Each ``subscribe`` frame starts a :class:`Subscription`, a stream of one room that
writes through the connection's one outbox, so it is served by ``streams.py`` exactly
as the room URL's socket is: its own cursor, gap, epoch and ``ready``, the same
catch-up and the same shared frames once live (``WS_MULTI``: message frames name their
room at the top level). A subscription holds no task once live (``Node.start_stream``).
Nothing the collector tracks is made per subscription but the :class:`Subscription`
itself, and the socket holds no timer: it is pinged on the node's quarter-heartbeat tick
(``Streams.kept_alive``), as the room URL's streams are (issue 19).

The guarantees are the room URL's: the token's ``sub`` is stamped on publish, edit
and delete (``node.submit``); when the token expires the socket closes with 4401
(``token expired``), subscribed to anything or not; a slow consumer is closed with
1013; at shutdown, 1001. Liveness is the connection's: a ping every heartbeat, and a
peer silent for two heartbeats is cut, as on the room URL (checked every quarter
heartbeat).
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

import orjson
from websockets.frames import CloseCode, Opcode

from hubbub.errors import InvalidMessage, InvalidRoom, ProtocolError
from hubbub.front.ws_socket import FrameSocket, switch_protocols, upgrade
from hubbub.hub import Outbox, Stream
from hubbub.principal import Principal
from hubbub.protocol.cursors import Cursor
from hubbub.protocol.encoding import (
    WS_MULTI,
    WS_PING_FRAME,
    EncodedMessage,
    ws_frame,
    ws_multi_ack,
)
from hubbub.protocol.messages import (
    Publish,
    client_id_of,
    parse_json_object,
    validate_publish,
    validate_room,
    validate_user,
)
from hubbub.runtime import CALLBACK_CONTEXT
from hubbub.streams import LONGEST_TIMER
from hubbub.transports.chat import requested_user_in
from hubbub.transports.http import node_of, principal_of
from hubbub.transports.multiplex import Subscription, frame_cursor
from hubbub.transports.streams import timed_drain
from hubbub.transports.websocket import (
    CLOSE_DISCONNECTED,
    CLOSE_TOKEN_EXPIRED,
    PUBLISH_FRAMES,
    peer_silent,
)

if TYPE_CHECKING:
    from hubbub.http.context import ServerContext
    from hubbub.http.streaming import StreamStart
    from hubbub.node import Node


def start_multiplex(start: StreamStart) -> None:
    """Check the token, ``?user=`` and the handshake (a ``ProtocolError`` refuses it),
    answer ``101`` and hand the socket to a :class:`MultiplexSocket`."""
    ctx, head, query = start.ctx, start.head, start.route.query
    node = node_of(head)
    principal = principal_of(head)
    user = node.presence_name(principal, requested_user_in(query))
    response = upgrade(start)
    if response is None:
        return
    socket = MultiplexSocket(ctx, node, start.transport, start.address, principal, user)
    switch_protocols(start, response, socket)
    socket.begin(start.leftover)


class MultiplexSocket(FrameSocket):
    """A ``GET /ws`` socket: its subscriptions by room, and what its client sends."""

    __slots__ = (
        "_expiry",
        "_finished_one",
        "_held",
        "last_ping",
        "last_seen",
        "node",
        "outbox",
        "principal",
        "subscriptions",
        "user",
    )

    def __init__(
        self,
        ctx: ServerContext,
        node: Node,
        transport: asyncio.Transport,
        address: str,
        principal: Principal,
        user: str | None,
    ) -> None:
        super().__init__(ctx, transport, address)
        self.node = node
        self.principal = principal
        self.user = user
        self.outbox = Outbox(
            transport,
            self.node.scheduler,
            limit=ctx.settings.outbox_limit,
            on_overflow=self._overflow,
        )
        self.subscriptions: dict[str, Subscription] = {}
        self.last_seen = self.last_ping = ctx.loop.time()
        self._expiry: asyncio.TimerHandle | None = None
        # Told when a subscription is detached: bound once, shared by all of them.
        self._finished_one = self._finished
        # Held as a connection of its user: an admin's disconnect closes it, rooms or none.
        # The handle is kept, not a callable that releases it (two objects fewer).
        connections = self.node.moderation.connections
        self._held = 0 if user is None else connections.add(user, self._disconnected)

    def begin(self, leftover: bytes) -> None:
        self.node.streams.kept_alive.add(self)
        expires = self.principal.expires
        if expires is not None:
            delay = min(max(0.0, expires - time.time()), LONGEST_TIMER)
            loop = self._ctx.loop
            self._expiry = loop.call_later(delay, self._expired, context=CALLBACK_CONTEXT)
        self.take_over(leftover)

    # FrameSocket

    def _bytes_sent(self) -> int:
        return self.outbox.sent

    def _on_message(self, opcode: Opcode, data: str | bytes) -> None:
        self.last_seen = self._ctx.loop.time()
        if opcode is Opcode.TEXT:
            self.on_text(data)  # type: ignore[arg-type]
        elif opcode is Opcode.PING:
            transport = self._transport
            if transport is not None and transport.get_write_buffer_size() > self.outbox.limit:
                self.outbox.overflow()  # pinged by a client that does not read
        elif opcode is Opcode.BINARY:
            self._close(CloseCode.UNSUPPORTED_DATA, "binary frames", wait=True)

    def _before_close(self) -> None:
        """What was queued goes out first; nothing of any room after the close frame."""
        self.outbox.flush(self._ctx.loop.time())
        self.outbox.close()
        self._end_all("gone")

    def _lost(self) -> None:
        if self._held and self.user is not None:
            self.node.moderation.connections.remove(self.user, self._held)
            self._held = 0
        self._writer_gone()
        self.node.streams.kept_alive.discard(self)
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        self._finished_one = _no_finish  # it referred to this socket: no cycle left behind
        self._end_all("gone")

    def _end_all(self, reason: str) -> None:
        for stream in tuple(self.subscriptions.values()):
            stream.end(reason)

    # Timers: liveness and the token's expiry

    def tick(self, now: float, interval: float) -> None:
        """Every quarter heartbeat (the node's tick): cut a peer silent for two
        heartbeats, else ping it once a heartbeat."""
        if self._transport is None or self._closing:
            return
        if peer_silent(now, self.last_seen, interval):
            self.abort()
        elif now - self.last_ping >= interval:
            self.last_ping = now
            self.outbox.push(WS_PING_FRAME)

    def _disconnected(self) -> None:
        code, reason = CLOSE_DISCONNECTED, "disconnected by an admin"
        self._close(code, reason, wait=False)

    def _expired(self) -> None:
        self._expiry = None
        self._close(CLOSE_TOKEN_EXPIRED, "token expired", wait=False)

    def _overflow(self) -> None:
        """The outbox passed its limit: close 1013 (as the room URL does)."""
        self.node.stats.slow_consumers_dropped += 1
        self._close_slow()
        self._end_all("slow")

    # Client frames

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
        node = self.node
        limit = node.settings.max_subscriptions
        if len(self.subscriptions) >= limit:
            raise InvalidMessage(f"at most {limit} subscriptions per connection")
        node.check_stream(self.principal, room)
        stream = Subscription(room, WS_MULTI, self.outbox, self.principal, self._ctx.loop.time())
        stream.user = self.user
        self.subscriptions[room] = stream
        drain = timed_drain(self.writable, node.settings.heartbeat)
        # the socket is held; the room's read access checked above
        node.start_stream(stream, cursor, drain, self._finished_one, hold=False, checked=True)

    def unsubscribe(self, room: str) -> None:
        stream = self.subscriptions.pop(room, None)
        if stream is None:
            raise InvalidMessage(f"not subscribed to {room}")
        stream.end("unsubscribed")
        # Out of the room now, in this step: nothing of the room follows this frame.
        self.node.streams.detach(stream)
        self.send({"type": "unsubscribed", "room": room, "reason": "unsubscribed"})

    def _finished(self, stream: Stream, reason: str) -> None:
        """A subscription ended and is detached (what it had queued is out)."""
        room = stream.room
        if self.subscriptions.get(room) is stream:
            del self.subscriptions[room]
        if reason in ("reset", "gap"):
            # The room's log started over (or lost what it was sending): subscribe again
            # with the cursor, and the new ready or gap tells exactly what was lost.
            self.send({"type": "unsubscribed", "room": room, "reason": reason})
        elif reason == "error":  # logged by the node's streams
            self.abort()
        elif reason == "shutdown":  # shutdown and expiry close the connection
            self._close(CloseCode.GOING_AWAY, "server shutting down", wait=False)
        elif reason == "expired":
            self._close(CLOSE_TOKEN_EXPIRED, "token expired", wait=False)

    def publish(self, room: str, fields: dict[str, Any]) -> None:
        node = self.node
        publish = validate_publish(
            room, fields, node.settings.max_text, user_required=node.user_required
        )
        node.submit_to(self.principal, publish, self)

    # Committer.Answer: told in the commit's step, after the fan-out marked the rooms

    def committed(self, publish: Publish, message: EncodedMessage, created: bool) -> None:
        ack = ws_multi_ack(publish.room, message, publish.client_id)
        subscription = self.subscriptions.get(publish.room)
        if subscription is not None:  # after the message, which its catch-up may bring
            subscription.answer_after(ack)
        else:
            self.outbox.push_after(ack)

    def refused(self, publish: Publish, error: ProtocolError) -> None:
        self.refuse(error, publish.room, publish.client_id)

    def typing(self, room: str, fields: dict[str, Any]) -> None:
        user = self.user
        if user is None and "user" in fields:
            user = self.node.presence_name(self.principal, validate_user(fields["user"]))
        if user is None:
            raise InvalidMessage("typing needs a name: ?user= on /ws, or user in the frame")
        self.node.typing_notice(self.principal, room, user)


def _no_finish(stream: Stream, reason: str) -> None:
    """What a gone socket is told of a subscription it no longer has: nothing."""
