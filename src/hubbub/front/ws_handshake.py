"""The WebSocket opening handshake of the lean path (RFC 6455 section 4.2), as aiohttp does it.

The same checks in the same order as ``transports/websocket.py: accept_websocket`` and
aiohttp's ``WebSocketResponse._handshake`` (3.14), with the same errors: a page of
another origin (403), a version other than 13 (426), no ``Connection: upgrade`` or a
``Sec-WebSocket-Key`` that is not 16 bytes of base64 (400). hubbub speaks no
subprotocol and no extension (aiohttp's ``compress=False``): ``Sec-WebSocket-Protocol``
is answered with none (aiohttp logs the mismatch; so does this), and
``Sec-WebSocket-Extensions`` is ignored. Pure but for that log line.
"""

from __future__ import annotations

import base64
import binascii
import hashlib

from aiohttp.log import ws_logger

from hubbub.errors import InvalidRequest, UpgradeRequired
from hubbub.front.answers import SERVER
from hubbub.front.head import Head
from hubbub.transports.origins import origin_refusal

# RFC 6455 section 1.3: appended to the client's key before hashing.
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def accept_key(head: Head, address: str, allow_origin: str | None) -> str:
    """``Sec-WebSocket-Accept`` for an acceptable handshake; raises the refusal otherwise."""
    headers = head.headers
    refusal = origin_refusal(headers.get("origin"), headers.get("host"), allow_origin)
    if refusal is not None:
        raise refusal
    if (headers.get("sec-websocket-version") or "").strip() != "13":
        raise UpgradeRequired("only WebSocket version 13 is spoken here")
    # aiohttp's own checks, its messages included (prefixed as accept_websocket does).
    if not head.upgrade:  # llhttp's upgrade flag: "Connection: upgrade" with "Upgrade"
        raise _bad_handshake(f"No CONNECTION upgrade hdr: {headers.get('connection')}")
    protocols = headers.get("sec-websocket-protocol")
    if protocols is not None:
        offered = [proto.strip() for proto in protocols.split(",")]
        ws_logger.warning(  # aiohttp's words, its apostrophe too
            "%s: Client protocols %r don’t overlap server-known ones %r",  # noqa: RUF001
            address,
            offered,
            (),
        )
    key = headers.get("sec-websocket-key")
    if not key or not key.isascii():
        # (aiohttp fails with a 500 on a key that is not ASCII: a 400 here.)
        raise _bad_handshake(f"Handshake error: {key!r}")
    try:
        if len(base64.b64decode(key)) != 16:
            raise _bad_handshake(f"Handshake error: {key!r}")
    except binascii.Error:
        raise _bad_handshake(f"Handshake error: {key!r}") from None
    return base64.b64encode(hashlib.sha1(key.encode() + WS_GUID).digest()).decode()


def _bad_handshake(reason: str) -> InvalidRequest:
    return InvalidRequest(f"websocket handshake: {reason}")


def switching_protocols(accept: str, date: bytes, cors: bytes) -> bytes:
    """The ``101`` answer: aiohttp's headers, in its order (``cors``: the origin lines)."""
    return b"".join(
        (
            b"HTTP/1.1 101 Switching Protocols\r\n"
            b"Upgrade: websocket\r\nConnection: upgrade\r\nSec-WebSocket-Accept: ",
            accept.encode("ascii"),
            b"\r\n",
            date,
            SERVER,
            cors,
            b"\r\n",
        )
    )
