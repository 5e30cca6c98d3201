"""Wire encodings, computed once per message and shared by every subscriber.

A message is turned into bytes at most once per wire format: the JSON object,
the SSE event, and the complete WebSocket frame. Server-to-client WebSocket
frames are never masked (RFC 6455 section 5.1), so the same frame bytes,
header included, can be written to every socket as they are.

A :class:`WireFormat` is how one kind of stream shows a room: its message,
gap and ready frames. The core writes whatever its streams' formats give and
never asks which transport a stream is.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from typing import Any

import orjson

try:  # the library's C unmasking, as its own frame parser uses
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - a build without its C extension
    from websockets.utils import apply_mask

from hubbub.protocol.cursors import Bounds
from hubbub.protocol.messages import Message

# SSE: the reconnection delay (WHATWG HTML 9.2.5, "retry"). Sent in the same
# block as the stream's first event: a block with only ``retry:`` is dispatched
# by some clients (httpx-sse) as an empty message.
SSE_RETRY = b"retry: 3000\n"
# A comment line keeps proxies and the browser from timing the stream out.
SSE_PING = b": ping\n\n"

# The last event of a stream whose token expired. No ``id:`` line: Last-Event-ID
# still names the last message received.
SSE_EXPIRED = b'event: expired\ndata: {"code":"unauthorized","message":"token expired"}\n\n'

# The last event of a stream whose user an admin disconnected: ``retry`` makes a browser's
# EventSource wait 30 s (protocol/moderation.py: RECONNECT_AFTER) before it reconnects.
SSE_DISCONNECTED = (
    b"retry: 30000\nevent: disconnected\n"
    b'data: {"code":"disconnected","message":"disconnected by an admin","retry_after":30}\n\n'
)

# RFC 6455 section 5.5.2: a ping control frame with no payload.
WS_PING_FRAME = b"\x89\x00"

WS_OPCODE_TEXT = 0x1
WS_OPCODE_CLOSE = 0x8
_MAX_CLOSE_REASON = 120


def ws_frame(payload: bytes, opcode: int = WS_OPCODE_TEXT) -> bytes:
    """One unmasked, unfragmented server frame (RFC 6455 section 5.2)."""
    first = 0x80 | opcode  # FIN + opcode
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", first, size)
    elif size < 1 << 16:
        header = struct.pack("!BBH", first, 126, size)
    else:
        header = struct.pack("!BBQ", first, 127, size)
    return header + payload


def ws_close_frame(code: int, reason: str = "") -> bytes:
    """A close frame carrying ``code`` (RFC 6455 section 5.5.1).

    The reason is cut to 120 bytes (a control frame holds 125) at a character boundary:
    a reason that is not valid UTF-8 makes the client fail the connection (section 8.1).
    """
    cut = reason.encode()[:_MAX_CLOSE_REASON].decode(errors="ignore").encode()
    return ws_frame(struct.pack("!H", code) + cut, WS_OPCODE_CLOSE)


def client_messages(data: bytes, max_size: int) -> tuple[list[tuple[int, bytes]], int] | None:
    """The client messages in ``data``, each ``(opcode, unmasked payload)``, and where the
    frame the read cut starts (``len(data)`` if none was cut), if ``data`` holds nothing
    but unfragmented, masked text or binary frames with no reserved bit and a 7- or 16-bit
    length, each at most ``max_size`` bytes (RFC 6455 section 5.2). None for anything else
    (a control frame, a fragment, an oversized or 64-bit-length one): the WebSocket library
    parses that, refusals included. A busy publisher's reads often end inside a frame: its
    start is kept for the next read rather than handed to the library for good."""
    messages: list[tuple[int, bytes]] = []
    end = len(data)
    at = 0
    while at < end:
        first = data[at]
        if first != 0x81 and first != 0x82:
            return None
        if end - at < 2:
            return messages, at
        second = data[at + 1]
        if not second & 0x80:
            return None
        size = second & 0x7F
        head = 2
        if size == 126:
            if end - at < 4:
                return messages, at
            size = (data[at + 2] << 8) | data[at + 3]
            head = 4
        elif size == 127:
            return None
        if size > max_size:
            return None
        start = at + head + 4
        if end < start + size:
            return messages, at
        payload = data[start : start + size]
        messages.append((first & 0x0F, apply_mask(payload, data[start - 4 : start])))
        at = start + size
    return messages, at


class EncodedMessage:
    """A message of one epoch with its wire forms, each built on first use and then reused."""

    __slots__ = ("_forms", "_multi", "_sse", "_ws", "epoch", "id", "json", "message")

    def __init__(self, message: Message, epoch: str) -> None:
        self.message = message
        # A slot, not a property: the sequencer and the room's cache read it several
        # times a message (issue 19: 6.6 property calls per published message).
        self.id = message.id
        self.epoch = epoch
        self.json: bytes = orjson.dumps(message.to_dict())
        self._sse: bytes | None = None
        self._ws: bytes | None = None
        self._multi: bytes | None = None
        self._forms: dict[str, bytes] | None = None

    @property
    def sse(self) -> bytes:
        """``id: EPOCH:N``/``event:``/``data:`` lines; orjson never emits a raw newline."""
        if self._sse is None:
            self._sse = b"id: %s:%d\nevent: message\ndata: %s\n\n" % (
                self.epoch.encode(),
                self.message.id,
                self.json,
            )
        return self._sse

    @property
    def ws(self) -> bytes:
        """The whole WebSocket text frame of ``{"type":"message","message":...}``."""
        if self._ws is None:
            self._ws = ws_frame(b'{"type":"message","message":' + self.json + b"}")
        return self._ws

    @property
    def ws_multi(self) -> bytes:
        """The whole ``GET /ws`` frame, ``{"type":"message","room":...,"message":...}``,
        spliced from the JSON made once (the bytes orjson makes of that object)."""
        if self._multi is None:
            self._multi = ws_frame(
                b'{"type":"message","room":%b,"message":%b}'
                % (json_room(self.message.room), self.json)
            )
        return self._multi

    def form(self, name: str, build: Callable[[Message], bytes]) -> bytes:
        """Another view's encoding of this message (the tutorial dialect's), built once."""
        forms = self._forms
        if forms is None:
            forms = self._forms = {}
        data = forms.get(name)
        if data is None:
            data = forms[name] = build(self.message)
        return data


def _position(room: str, bounds: Bounds, cursor: int | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"room": room, "first_id": bounds.first_id, "last_id": bounds.last_id}
    body["epoch"] = bounds.epoch
    if cursor is not None:
        body["since"] = cursor
    return body


class WireFormat:
    """How one kind of stream shows a room. Subclasses name a format per transport.

    ``chunked`` formats go out as HTTP/1.1 chunks; the room frames each flush once.
    """

    __slots__ = ("chunked", "name")

    def __init__(self, name: str, *, chunked: bool = False) -> None:
        self.name = name
        self.chunked = chunked

    def message(self, message: EncodedMessage) -> bytes:
        raise NotImplementedError

    def gap(self, room: str, bounds: Bounds, cursor: int) -> bytes:
        """Ids the reader cannot get: ``bounds`` of the log it continues in, from ``cursor``."""
        return b""

    def ready(self, room: str, bounds: Bounds, cursor: int) -> bytes:
        """The stream is open: messages with ids > ``cursor`` of ``bounds.epoch`` follow."""
        return b""

    def event(self, room: str, name: str, body: dict[str, Any]) -> bytes:
        """An ephemeral event (``presence``, ``typing``): no id, never stored, never a
        cursor. Empty for formats that do not show them (the tutorial dialect)."""
        return b""


class WebSocketFormat(WireFormat):
    __slots__ = ()

    def message(self, message: EncodedMessage) -> bytes:
        return message.ws

    def gap(self, room: str, bounds: Bounds, cursor: int) -> bytes:
        return ws_frame(orjson.dumps({"type": "gap", **_position(room, bounds)}))

    def ready(self, room: str, bounds: Bounds, cursor: int) -> bytes:
        return ws_frame(orjson.dumps({"type": "ready", **_position(room, bounds, cursor)}))

    def event(self, room: str, name: str, body: dict[str, Any]) -> bytes:
        return ws_frame(orjson.dumps({"type": name, "room": room, **body}))


class EventStreamFormat(WireFormat):
    """SSE. Gap and ready events carry ``id: EPOCH:CURSOR``: a browser that reconnects
    after them resumes from where the stream continued, never from before a gap
    it was told about."""

    __slots__ = ()

    def message(self, message: EncodedMessage) -> bytes:
        return message.sse

    def _event(self, event: bytes, bounds: Bounds, cursor: int, body: dict[str, Any]) -> bytes:
        return b"id: %s:%d\nevent: %s\ndata: %s\n\n" % (
            bounds.epoch.encode(),
            cursor,
            event,
            orjson.dumps(body),
        )

    def gap(self, room: str, bounds: Bounds, cursor: int) -> bytes:
        return self._event(b"gap", bounds, cursor, _position(room, bounds))

    def ready(self, room: str, bounds: Bounds, cursor: int) -> bytes:
        return self._event(b"ready", bounds, cursor, _position(room, bounds, cursor))

    def event(self, room: str, name: str, body: dict[str, Any]) -> bytes:
        # No ``id:`` line: the browser's Last-Event-ID (the cursor) stays where it was.
        return b"event: %s\ndata: %s\n\n" % (name.encode(), orjson.dumps({"room": room, **body}))


class MultiplexFormat(WebSocketFormat):
    """A subscription on ``GET /ws``: message frames name their room at the top level,
    like every other frame of a connection that carries many rooms."""

    __slots__ = ()

    def message(self, message: EncodedMessage) -> bytes:
        return message.ws_multi


WS = WebSocketFormat("ws")
WS_MULTI = MultiplexFormat("ws-multi")
SSE = EventStreamFormat("sse", chunked=True)


def ws_ack(message: EncodedMessage, client_id: str | None) -> bytes:
    head = b'{"type":"ack",'
    if client_id is not None:
        head += b'"client_id":' + orjson.dumps(client_id) + b","
    return ws_frame(head + b'"message":' + message.json + b"}")


def json_room(room: str) -> bytes:
    """A room name as a JSON string, without an encoder: a room name is validated
    (``messages.ROOM_NAME``: ASCII letters, digits, ``_.-``) before anything of it is
    stored or sent, and none of those characters is escaped in JSON."""
    return b'"%b"' % room.encode()


def ws_multi_ack(room: str, message: EncodedMessage, client_id: str | None) -> bytes:
    """``GET /ws``'s ``ack``, naming its room: the message's JSON is the one already made."""
    head = b'{"type":"ack","room":' + json_room(room)
    if client_id is not None:
        head += b',"client_id":' + orjson.dumps(client_id)
    return ws_frame(head + b',"message":' + message.json + b"}")


def ws_error(code: str, text: str, client_id: str | None) -> bytes:
    frame: dict[str, Any] = {"type": "error", "code": code, "message": text}
    if client_id is not None:
        frame["client_id"] = client_id
    return ws_frame(orjson.dumps(frame))


def error_body(code: str, text: str) -> bytes:
    """The JSON body of every HTTP error."""
    return orjson.dumps({"error": {"code": code, "message": text}})


def poll_body(messages: Sequence[EncodedMessage], bounds: Bounds) -> bytes:
    """A short or long poll answer, spliced from the messages' cached JSON."""
    return b'{"messages":[%s],"first_id":%d,"last_id":%d,"epoch":"%s"}' % (
        b",".join(m.json for m in messages),
        bounds.first_id,
        bounds.last_id,
        bounds.epoch.encode(),
    )


def latest_body(messages: Sequence[dict[str, Any]], bounds: Bounds) -> bytes:
    """A poll answer of ``?view=latest``: messages with their corrections applied."""
    return orjson.dumps(
        {
            "messages": messages,
            "first_id": bounds.first_id,
            "last_id": bounds.last_id,
            "epoch": bounds.epoch,
        }
    )
