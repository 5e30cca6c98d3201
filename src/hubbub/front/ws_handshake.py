"""The WebSocket opening handshake (RFC 6455 section 4.2), for every WebSocket route.

:func:`check_handshake` makes hubbub's checks first, each refused in the protocol's JSON
shape before anything is written: a page of another origin (403), a version other
than 13 (426), no ``Connection: upgrade`` or a ``Sec-WebSocket-Key`` that is not 16
bytes of base64 (400), with the messages aiohttp's handshake gave them. Then
:func:`switching_protocols` has ``websockets``' ``ServerProtocol`` accept the request
(its own checks, and the ``101``): hubbub speaks no subprotocol and no extension, so
``Sec-WebSocket-Protocol`` and ``Sec-WebSocket-Extensions`` get no answer (an offered
subprotocol is logged). Pure but for that log line.
"""

from __future__ import annotations

import base64
import binascii
import logging

from websockets.datastructures import Headers
from websockets.http11 import Request
from websockets.server import ServerProtocol

from hubbub.errors import InvalidRequest, UpgradeRequired
from hubbub.http.answers import SERVER
from hubbub.http.head import Head
from hubbub.transports.origins import origin_refusal

log = logging.getLogger("hubbub")
# The library logs each connection's opening and closing (and, at DEBUG, every frame
# and the request's path, a ``?token=`` included): its own quiet logger.
LIBRARY_LOG = logging.getLogger("hubbub.websocket")
LIBRARY_LOG.setLevel(logging.WARNING)


def check_handshake(head: Head, address: str, allow_origin: str | None) -> None:
    """Raise the refusal of a handshake hubbub does not take (before the library's)."""
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
        log.warning(
            "%s: Client protocols %r don't overlap server-known ones %r",
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


def _bad_handshake(reason: str) -> InvalidRequest:
    return InvalidRequest(f"websocket handshake: {reason}")


def switching_protocols(head: Head, date: bytes, extra: bytes) -> bytes:
    """The ``101`` answer to ``head``, made by the library (``extra``: header lines of
    hubbub's, such as CORS). A handshake the library refuses though hubbub's checks took
    it is a 400, with the library's reason."""
    headers = Headers()
    for name, value in head.headers.items():
        headers[name] = value
    handshake = ServerProtocol(logger=LIBRARY_LOG)
    response = handshake.accept(Request(head.url.decode("latin-1"), headers))
    if response.status_code != 101:
        reason = response.body.decode("utf-8", "replace").strip().splitlines()[0]
        raise _bad_handshake(reason)
    del response.headers["Date"]  # hubbub's own, cached per second, with its Server line
    head_bytes = response.serialize()
    return b"".join((head_bytes[:-2], date, SERVER, extra, b"\r\n"))
