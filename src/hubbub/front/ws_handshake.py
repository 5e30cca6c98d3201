"""The WebSocket opening handshake (RFC 6455 section 4.2), for every WebSocket route.

:func:`check_handshake` makes hubbub's checks first, each refused in the protocol's JSON
shape before anything is written: a page of another origin (403), a version other
than 13 (426), no ``Connection: upgrade`` or a ``Sec-WebSocket-Key`` that is not 16
bytes of base64 (400), with the messages aiohttp's handshake gave them. Then
:func:`switching_protocols` has ``websockets``' ``ServerProtocol`` accept the request
(its own checks, and the ``101``): hubbub speaks no subprotocol and no extension, so
``Sec-WebSocket-Protocol`` and ``Sec-WebSocket-Extensions`` get no answer (an offered
subprotocol is logged). Pure but for that log line.

The library's handshake costs about 25 µs (a ``Headers`` copy, a protocol object with
a UUID, a ``Date`` it formats and hubbub drops), a tenth of a whole connect in a
reconnect storm (issue 19). So the ordinary request, one the library is certain to
accept, is answered here with the same bytes (:func:`plain_accept`); any other goes
through the library as before, its answer and refusals unchanged.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
from collections.abc import Callable

from websockets.datastructures import Headers
from websockets.http11 import Request
from websockets.server import ServerProtocol
from websockets.utils import accept_key

from hubbub.errors import InvalidRequest, UpgradeRequired
from hubbub.http.answers import SERVER
from hubbub.http.head import Head
from hubbub.transports.origins import origin_refusal

log = logging.getLogger("hubbub")
# The library logs each connection's opening and closing (and, at DEBUG, every frame
# and the request's path, a ``?token=`` included): its own quiet logger.
LIBRARY_LOG = logging.getLogger("hubbub.websocket")
LIBRARY_LOG.setLevel(logging.WARNING)

# A Connection header of plain comma-separated tokens (RFC 9110 section 5.6.2), one of
# them "upgrade": what the library's parser takes as such.
_TOKEN_LIST = re.compile(
    r"[!#$%&'*+.^_`|~0-9A-Za-z-]+(?:[ \t]*,[ \t]*[!#$%&'*+.^_`|~0-9A-Za-z-]+)*"
)
# Headers.get of a lower-case name, without its Python call.
_get: Callable[[dict[str, str], str], str | None] = dict.get
_ACCEPT_HEAD = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"


def check_handshake(head: Head, address: str, allow_origin: str | None) -> bytes | None:
    """Raise the refusal of a handshake hubbub does not take (before the library's);
    else return what :func:`plain_accept` would, from the headers read here once (a
    reconnect storm checks thousands a second, issue 19)."""
    headers = head.headers
    # Lower-case names: a plain dict lookup is what Headers.get makes of them.
    refusal = origin_refusal(_get(headers, "origin"), _get(headers, "host"), allow_origin)
    if refusal is not None:
        raise refusal
    if (_get(headers, "sec-websocket-version") or "").strip() != "13":
        raise UpgradeRequired("only WebSocket version 13 is spoken here")
    # aiohttp's own checks, its messages included (prefixed as accept_websocket does).
    if not head.upgrade:  # llhttp's upgrade flag: "Connection: upgrade" with "Upgrade"
        raise _bad_handshake(f"No CONNECTION upgrade hdr: {_get(headers, 'connection')}")
    protocols = _get(headers, "sec-websocket-protocol")
    if protocols is not None:
        offered = [proto.strip() for proto in protocols.split(",")]
        log.warning(
            "%s: Client protocols %r don't overlap server-known ones %r",
            address,
            offered,
            (),
        )
    key = _get(headers, "sec-websocket-key")
    if not key or not key.isascii():
        # (aiohttp fails with a 500 on a key that is not ASCII: a 400 here.)
        raise _bad_handshake(f"Handshake error: {key!r}")
    strict = _strict_key(key)
    if strict is None:  # not strict base64 (the library judges it), or a bad key:
        try:
            if len(base64.b64decode(key)) != 16:
                raise _bad_handshake(f"Handshake error: {key!r}")
        except binascii.Error:
            raise _bad_handshake(f"Handshake error: {key!r}") from None
        return None
    if len(strict) != 16:
        raise _bad_handshake(f"Handshake error: {key!r}")
    if protocols is not None:
        return None
    return _plain_accept_of(headers, key)


def _bad_handshake(reason: str) -> InvalidRequest:
    return InvalidRequest(f"websocket handshake: {reason}")


def plain_accept(head: Head) -> bytes | None:
    """The ``Sec-WebSocket-Accept`` value for a request the library would accept as it
    is (after :func:`check_handshake`): ``Upgrade: websocket``, a
    ``Connection`` token list with ``upgrade``, a strict base64 key of 16 bytes, and no
    subprotocol offered. None for any other request: the library judges it."""
    headers = head.headers
    if "sec-websocket-protocol" in headers:
        return None
    key = _get(headers, "sec-websocket-key") or ""
    strict = _strict_key(key)
    if strict is None or len(strict) != 16:
        return None
    return _plain_accept_of(headers, key)


def _strict_key(key: str) -> bytes | None:
    """``key`` decoded as the library decodes it (strict base64), or None."""
    try:
        return base64.b64decode(key.encode(), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        return None


def _plain_accept_of(headers: dict[str, str], key: str) -> bytes | None:
    """:func:`plain_accept` once the key (strict, 16 bytes) and the subprotocol are
    known: the ``Upgrade`` and ``Connection`` values decide."""
    if (_get(headers, "upgrade") or "").lower() != "websocket":
        return None
    connection = _get(headers, "connection") or ""
    if _TOKEN_LIST.fullmatch(connection) is None:
        return None
    if "upgrade" not in (token.strip().lower() for token in connection.split(",")):
        return None
    return accept_key(key).encode()


def switching_protocols(head: Head, date: bytes, extra: bytes) -> bytes:
    """The ``101`` answer to ``head`` (``extra``: header lines of hubbub's, such as
    CORS), as the library makes it. A handshake the library refuses though hubbub's
    checks took it is a 400, with the library's reason."""
    return answer_101(head, date, extra, plain_accept(head))


def answer_101(head: Head, date: bytes, extra: bytes, accept: bytes | None) -> bytes:
    """:func:`switching_protocols` with its :func:`plain_accept` value (from
    :func:`check_handshake`): hubbub's own ``101``, or (None) the library's."""
    if accept is not None:
        return b"".join(
            (_ACCEPT_HEAD, b"Sec-WebSocket-Accept: ", accept, b"\r\n", date, SERVER, extra, b"\r\n")
        )
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
