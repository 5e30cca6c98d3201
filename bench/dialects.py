"""How each kind of server under test is spoken to: one class per wire dialect.

The load generator's clients are written once (``subscribers.py``, ``publishers.py``);
what differs between hubbub, the plain WebSocket peers, Socket.IO and Nchan (paths,
publish frames, acks, long-poll cursors, how a probe finds the message in a frame) lives
here, behind one small interface.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, ClassVar

import orjson

from bench import http1
from bench.payload import read_text


class Transport(enum.StrEnum):
    WS = "ws"
    SSE = "sse"
    LONGPOLL = "longpoll"
    SHORTPOLL = "shortpoll"


@dataclass(frozen=True, slots=True)
class Delivered:
    """What a probe learns from one delivered message."""

    seq: int
    sent_ns: int
    server_id: int | None = None  # the server's own position, where it has one (hubbub)


class Dialect:
    """The plain WebSocket peers' wire (node ws, uWebSockets.js, websockets)."""

    name: ClassVar[str] = "peer"
    transports: ClassVar[frozenset[Transport]] = frozenset({Transport.WS})
    http_publish: ClassVar[bool] = True
    ws_publish: ClassVar[bool] = True

    # Subscribing

    def sub_path(self, transport: Transport, room: str) -> str:
        return f"/rooms/{room}/messages"

    def sse_request(self, host: str, room: str) -> bytes:
        return http1.get(host, self.sub_path(Transport.SSE, room), "Accept: text/event-stream\r\n")

    def ws_opening(self, frame_payload: bytes) -> tuple[bool, bytes | None]:
        """After the 101: (subscription live, payload to send back). Plain WS: live at once."""
        return True, None

    def ws_live_at_upgrade(self) -> bool:
        return True

    # Long and short polling: the cursor is opaque to the generator.

    def poll_request(
        self, host: str, room: str, cursor: Any, wait_s: float | None
    ) -> bytes:  # pragma: no cover - only dialects with polling override it
        raise NotImplementedError

    def poll_cursor(self, start: Any, response: http1.Response) -> Any:  # pragma: no cover
        raise NotImplementedError

    def poll_start(self) -> Any:
        return 0

    # Publishing

    def publish_body(self, text: str, client_id: str) -> bytes:
        return orjson.dumps({"user": "bench", "text": text, "client_id": client_id})

    def publish_path(self, room: str) -> str:
        return f"/rooms/{room}/messages"

    def http_publish_request(self, host: str, room: str, body: bytes) -> bytes:
        return http1.post_json(host, self.publish_path(room), body)

    def ws_publish_payload(self, text: str, client_id: str, ack_id: int) -> bytes:
        return orjson.dumps(
            {"type": "publish", "user": "bench", "text": text, "client_id": client_id}
        )

    def ws_ack(self, payload: bytes) -> bool:
        """Whether a server frame acknowledges a publish (cheap: no full parse)."""
        return payload.startswith(b'{"type":"ack"')

    # Probing: decode fully.

    def decode_ws(self, payload: bytes) -> list[Delivered]:
        doc = orjson.loads(payload)
        if doc.get("type") != "message":
            return []
        return [self._from_message(doc["message"])]

    def decode_sse(self, event: http1.SseEvent) -> list[Delivered]:
        if event.event != "message":
            return []
        return [self._from_message(orjson.loads(event.data))]

    def decode_poll(self, response: http1.Response) -> list[Delivered]:
        return [self._from_message(m) for m in orjson.loads(response.body)["messages"]]

    def _from_message(self, message: dict[str, Any]) -> Delivered:
        seq, sent_ns = read_text(message["text"])
        return Delivered(seq, sent_ns)


class Hubbub(Dialect):
    """hubbub's protocol (docs/protocol.md): one URL, four transports."""

    name = "hubbub"
    transports = frozenset(Transport)

    def ws_ack(self, payload: bytes) -> bool:
        return b'"type":"ack"' in payload[:40] or b'"type": "ack"' in payload[:40]

    def poll_request(self, host: str, room: str, cursor: Any, wait_s: float | None) -> bytes:
        wait = f"&wait={wait_s:g}" if wait_s is not None else ""
        return http1.get(host, f"/rooms/{room}/messages?since={cursor}&limit=1000{wait}")

    def poll_cursor(self, start: Any, response: http1.Response) -> Any:
        # The last message's id is the last `"id":` in the body: `first_id` and
        # `last_id` do not match (their quote precedes `first_`), nor does `client_id`.
        body = response.body
        at = body.rfind(b'"id":')
        if at < 0:
            return start
        end = at + 5
        while body[end : end + 1] == b" ":
            end += 1
        digits = end
        while body[digits : digits + 1].isdigit():
            digits += 1
        return int(body[end:digits])

    def _from_message(self, message: dict[str, Any]) -> Delivered:
        seq, sent_ns = read_text(message["text"])
        return Delivered(seq, sent_ns, int(message["id"]))


class SocketIO(Dialect):
    """Socket.IO v4 (Engine.IO 4) over WebSocket, for the Node and Python servers."""

    name = "socketio"

    def sub_path(self, transport: Transport, room: str) -> str:
        return f"/socket.io/?EIO=4&transport=websocket&room={room}"

    def ws_live_at_upgrade(self) -> bool:
        return False

    def ws_opening(self, frame_payload: bytes) -> tuple[bool, bytes | None]:
        # Engine.IO open packet ("0{...}") -> ask to join the default namespace ("40");
        # the namespace's CONNECT answer ("40{...}") means the server ran its connection
        # handler, which joined the room.
        if frame_payload.startswith(b"0{"):
            return False, b"40"
        return frame_payload.startswith(b"40"), None

    def ws_publish_payload(self, text: str, client_id: str, ack_id: int) -> bytes:
        body = orjson.dumps(["publish", {"user": "bench", "text": text, "client_id": client_id}])
        return b"42%d" % ack_id + body

    def ws_ack(self, payload: bytes) -> bool:
        return payload.startswith(b"43")

    def decode_ws(self, payload: bytes) -> list[Delivered]:
        if not payload.startswith(b"42["):
            return []
        name, message = orjson.loads(payload[2:])[:2]
        return [self._from_message(message)] if name == "message" else []


class Nchan(Dialect):
    """nginx + Nchan: subscriber and publisher locations, raw message bodies."""

    name = "nchan"
    transports = frozenset({Transport.WS, Transport.SSE, Transport.LONGPOLL})
    ws_publish = False

    def sub_path(self, transport: Transport, room: str) -> str:
        return f"/sub/{room}"

    def publish_path(self, room: str) -> str:
        return f"/pub/{room}"

    def poll_start(self) -> Any:
        return None

    def poll_request(self, host: str, room: str, cursor: Any, wait_s: float | None) -> bytes:
        # Nchan's long-poll cursor is the previous answer's Last-Modified and Etag.
        headers = ""
        if cursor is not None:
            headers = f"If-Modified-Since: {cursor[0]}\r\nIf-None-Match: {cursor[1]}\r\n"
        return http1.get(host, f"/sub/{room}", headers)

    def poll_cursor(self, start: Any, response: http1.Response) -> Any:
        if response.status != 200:
            return start
        return (response.headers.get("last-modified", ""), response.headers.get("etag", ""))

    def decode_ws(self, payload: bytes) -> list[Delivered]:
        return [self._from_message(orjson.loads(payload))]

    def decode_sse(self, event: http1.SseEvent) -> list[Delivered]:
        return [self._from_message(orjson.loads(event.data))] if event.data else []

    def decode_poll(self, response: http1.Response) -> list[Delivered]:
        return [self._from_message(orjson.loads(response.body))] if response.status == 200 else []


DIALECTS: dict[str, Dialect] = {d.name: d for d in (Dialect(), Hubbub(), SocketIO(), Nchan())}
