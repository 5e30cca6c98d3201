"""Wire encodings, computed once per message and shared by every subscriber.

A message is turned into bytes at most once per wire format: the JSON object,
the SSE event, and the complete WebSocket frame. Server-to-client WebSocket
frames are never masked (RFC 6455 section 5.1), so the same frame bytes,
header included, can be written to every socket as they are.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any

import orjson

from hubbub.protocol.cursors import Bounds
from hubbub.protocol.messages import Message

# SSE: the stream opens with the reconnection delay (WHATWG HTML 9.2.5, "retry").
SSE_PREAMBLE = b"retry: 3000\n\n"
# A comment line keeps proxies and the browser from timing the stream out.
SSE_PING = b": ping\n\n"

# RFC 6455 section 5.5.2: a ping control frame with no payload.
WS_PING_FRAME = b"\x89\x00"

WS_OPCODE_TEXT = 0x1
WS_OPCODE_CLOSE = 0x8


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
    """A close frame carrying ``code`` (RFC 6455 section 5.5.1)."""
    return ws_frame(struct.pack("!H", code) + reason.encode()[:120], WS_OPCODE_CLOSE)


class EncodedMessage:
    """A message with its wire forms, each built on first use and then reused."""

    __slots__ = ("_sse", "_ws", "json", "message")

    def __init__(self, message: Message) -> None:
        self.message = message
        self.json: bytes = orjson.dumps(message.to_dict())
        self._sse: bytes | None = None
        self._ws: bytes | None = None

    @property
    def id(self) -> int:
        return self.message.id

    @property
    def sse(self) -> bytes:
        """``id:``/``event:``/``data:`` lines; orjson never emits a raw newline."""
        if self._sse is None:
            self._sse = b"id: %d\nevent: message\ndata: %s\n\n" % (self.message.id, self.json)
        return self._sse

    @property
    def ws(self) -> bytes:
        """The whole WebSocket text frame of ``{"type":"message","message":...}``."""
        if self._ws is None:
            self._ws = ws_frame(b'{"type":"message","message":' + self.json + b"}")
        return self._ws


def sse_gap(bounds: Bounds) -> bytes:
    """A gap event has no ``id:`` line, so the browser's Last-Event-ID stays put."""
    data = orjson.dumps({"first_id": bounds.first_id, "last_id": bounds.last_id})
    return b"event: gap\ndata: " + data + b"\n\n"


def ws_gap(bounds: Bounds) -> bytes:
    return ws_frame(
        orjson.dumps({"type": "gap", "first_id": bounds.first_id, "last_id": bounds.last_id})
    )


def ws_ack(message: EncodedMessage, client_id: str | None) -> bytes:
    head = b'{"type":"ack",'
    if client_id is not None:
        head += b'"client_id":' + orjson.dumps(client_id) + b","
    return ws_frame(head + b'"message":' + message.json + b"}")


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
    return b'{"messages":[%s],"first_id":%d,"last_id":%d}' % (
        b",".join(m.json for m in messages),
        bounds.first_id,
        bounds.last_id,
    )
