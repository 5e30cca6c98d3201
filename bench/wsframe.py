"""A minimal RFC 6455 client codec for the load generator: handshake, frames, masking.

Sans-I/O, like the rest of the wire code here: bytes in, events out. Counting subscribers
use it only until their subscription is live; probes and publishers use it throughout.
"""

from __future__ import annotations

import base64
import os
import struct
from dataclasses import dataclass
from typing import Final

OP_CONT: Final = 0x0
OP_TEXT: Final = 0x1
OP_BINARY: Final = 0x2
OP_CLOSE: Final = 0x8
OP_PING: Final = 0x9
OP_PONG: Final = 0xA


def handshake_request(host: str, path: str, extra_headers: str = "") -> bytes:
    """The HTTP/1.1 upgrade request (RFC 6455 section 4.1), without extensions."""
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{extra_headers}\r\n"
    ).encode()


class HandshakeError(Exception):
    """The server answered the upgrade with something other than 101."""


def handshake_response(buf: bytes) -> tuple[bool, bytes]:
    """(done, bytes after the response head) once the 101 head is complete.

    Raises HandshakeError on any other status, with the status line.
    """
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return False, buf
    status_line = buf[: buf.find(b"\r\n")]
    if b" 101 " not in status_line + b" ":
        raise HandshakeError(status_line.decode("latin-1"))
    return True, buf[end + 4 :]


def encode(payload: bytes, opcode: int = OP_TEXT) -> bytes:
    """One final, masked client frame (clients must mask: RFC 6455 section 5.3)."""
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    mask = os.urandom(4)
    # XOR as one big integer: a few C calls instead of a Python loop over the bytes.
    key = (mask * (n // 4 + 1))[:n]
    masked = (int.from_bytes(payload, "little") ^ int.from_bytes(key, "little")).to_bytes(
        n, "little"
    )
    return head + mask + masked


@dataclass(frozen=True, slots=True)
class Frame:
    """A complete message (fragments joined) or a control frame."""

    opcode: int
    payload: bytes


def reframe(frame: Frame) -> bytes:
    """An unmasked server frame again, for a reader that scans raw frames."""
    n = len(frame.payload)
    if n < 126:
        head = bytes([0x80 | frame.opcode, n])
    else:
        head = bytes([0x80 | frame.opcode, 126]) + n.to_bytes(2, "big")
    return head + frame.payload


class FrameParser:
    """Splits server-to-client bytes (unmasked frames) into messages and control frames."""

    __slots__ = ("_buf", "_frag_op", "_frags")

    def __init__(self) -> None:
        self._buf = b""
        self._frag_op = 0
        self._frags: list[bytes] = []

    def feed(self, data: bytes) -> list[Frame]:
        buf = self._buf + data if self._buf else data
        out: list[Frame] = []
        i = 0
        n = len(buf)
        while n - i >= 2:
            b0 = buf[i]
            length = buf[i + 1] & 0x7F
            head = 2
            if length == 126:
                if n - i < 4:
                    break
                length = (buf[i + 2] << 8) | buf[i + 3]
                head = 4
            elif length == 127:
                if n - i < 10:
                    break
                (length,) = struct.unpack_from("!Q", buf, i + 2)
                head = 10
            if buf[i + 1] & 0x80:
                head += 4  # a masked server frame is a protocol error; skip the key anyway
            end = i + head + length
            if end > n:
                break
            payload = buf[i + head : end]
            i = end
            opcode = b0 & 0x0F
            if opcode >= OP_CLOSE or (b0 & 0x80 and opcode != OP_CONT and not self._frags):
                out.append(Frame(opcode, payload))
            else:
                if opcode != OP_CONT:
                    self._frag_op = opcode
                self._frags.append(payload)
                if b0 & 0x80:
                    out.append(Frame(self._frag_op, b"".join(self._frags)))
                    self._frags = []
        self._buf = buf[i:]
        return out

    def take_rest(self) -> bytes:
        """The bytes of an incomplete frame, handed over to a raw reader."""
        rest, self._buf = self._buf, b""
        return rest
