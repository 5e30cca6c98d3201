"""Minimal HTTP/1.1 client pieces for the load generator: requests, responses, SSE.

Sans-I/O. Enough of RFC 9112 for talking to the servers under test on loopback:
Content-Length and chunked bodies, keep-alive, pipelining (responses arrive in request
order), and the Server-Sent Events line format (WHATWG HTML, section 9.2.6).
"""

from __future__ import annotations

from dataclasses import dataclass, field


def get(host: str, path: str, headers: str = "") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{headers}\r\n".encode()


def post_json(host: str, path: str, body: bytes) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


@dataclass(slots=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass(slots=True)
class _Head:
    status: int
    headers: dict[str, str]
    length: int  # -1: chunked


def _parse_head(raw: bytes) -> _Head:
    lines = raw.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    status = int(parts[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        length = -1
    else:
        length = int(headers.get("content-length", "0"))
    return _Head(status, headers, length)


class ResponseParser:
    """Complete responses, in order, from a keep-alive (possibly pipelined) connection."""

    __slots__ = ("_buf", "_chunks", "_head")

    def __init__(self) -> None:
        self._buf = b""
        self._head: _Head | None = None
        self._chunks: ChunkedDecoder | None = None

    def feed(self, data: bytes) -> list[Response]:
        self._buf += data
        out: list[Response] = []
        while True:
            if self._head is None:
                end = self._buf.find(b"\r\n\r\n")
                if end < 0:
                    return out
                self._head = _parse_head(self._buf[:end])
                self._buf = self._buf[end + 4 :]
                self._chunks = ChunkedDecoder() if self._head.length < 0 else None
            head = self._head
            if self._chunks is not None:
                # The decoder keeps what it cannot use yet; hand back only what follows the body.
                self._chunks.feed(self._buf)
                self._buf = b""
                if not self._chunks.done:
                    return out
                self._buf = self._chunks.leftover
                body = b"".join(self._chunks.data)
            else:
                if len(self._buf) < head.length:
                    return out
                body = self._buf[: head.length]
                self._buf = self._buf[head.length :]
            out.append(Response(head.status, head.headers, body))
            self._head = None
            self._chunks = None


class StreamHead:
    """The head of a streaming response (SSE): status, headers, then raw body bytes."""

    __slots__ = ("_buf", "head")

    def __init__(self) -> None:
        self._buf = b""
        self.head: Response | None = None

    def feed(self, data: bytes) -> bytes:
        """Body bytes in ``data`` once the head is complete (b"" before)."""
        if self.head is not None:
            return data
        self._buf += data
        end = self._buf.find(b"\r\n\r\n")
        if end < 0:
            return b""
        parsed = _parse_head(self._buf[:end])
        self.head = Response(parsed.status, parsed.headers, b"")
        rest = self._buf[end + 4 :]
        self._buf = b""
        return rest

    @property
    def chunked(self) -> bool:
        return self.head is not None and "chunked" in self.head.headers.get("transfer-encoding", "")


@dataclass(slots=True)
class ChunkedDecoder:
    """Decodes a chunked body (RFC 9112 section 7.1) as it arrives."""

    data: list[bytes] = field(default_factory=list)
    leftover: bytes = b""
    done: bool = False
    _want: int = -1  # -1: reading a size line; else bytes of chunk data still to read

    def feed(self, data: bytes) -> list[bytes]:
        """Append ``data``; returns the body pieces it completed."""
        buf = self.leftover + data
        pieces: list[bytes] = []
        i = 0
        while not self.done:
            if self._want < 0:
                eol = buf.find(b"\r\n", i)
                if eol < 0:
                    break
                size = int(buf[i:eol].split(b";", 1)[0], 16)
                if size == 0:
                    # The last chunk, then the final CRLF (the servers here send no trailers).
                    if len(buf) < eol + 4:
                        break
                    i = eol + 4
                    self.done = True
                    break
                i = eol + 2
                self._want = size
            if len(buf) - i < self._want + 2:
                break
            pieces.append(buf[i : i + self._want])
            i += self._want + 2
            self._want = -1
        self.leftover = buf[i:]
        self.data.extend(pieces)
        return pieces


@dataclass(frozen=True, slots=True)
class SseEvent:
    event: str
    data: str
    id: str | None


class SseParser:
    """Events from a text/event-stream body (comments and ``retry:`` are skipped)."""

    __slots__ = ("_buf", "_data", "_event", "_id")

    def __init__(self) -> None:
        self._buf = b""
        self._event = ""
        self._data: list[str] = []
        self._id: str | None = None

    def feed(self, data: bytes) -> list[SseEvent]:
        buf = self._buf + data
        out: list[SseEvent] = []
        start = 0
        while True:
            eol = buf.find(b"\n", start)
            if eol < 0:
                break
            line = buf[start:eol].rstrip(b"\r").decode()
            start = eol + 1
            if not line:
                if self._data:
                    out.append(SseEvent(self._event or "message", "\n".join(self._data), self._id))
                self._event, self._data, self._id = "", [], None
                continue
            field_name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field_name == "data":
                self._data.append(value)
            elif field_name == "event":
                self._event = value
            elif field_name == "id":
                self._id = value
        self._buf = buf[start:]
        return out
