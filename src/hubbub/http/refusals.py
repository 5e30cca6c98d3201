"""The answer to a refusal: its JSON body and what it carries besides (``error_answer``,
for every refusal of every route, and the ``503`` answered at accept)."""

from __future__ import annotations

from hubbub.auth import www_authenticate
from hubbub.errors import (
    BodyTooLarge,
    Disconnected,
    HeadTooLarge,
    Indexing,
    InvalidRequest,
    MethodNotAllowed,
    Muted,
    ProtocolError,
    RateLimited,
    RequestTimeout,
    TooManyConnections,
    Unauthorized,
    UpgradeRequired,
)
from hubbub.http.answers import Answer
from hubbub.protocol.encoding import error_body
from hubbub.protocol.ratelimit import retry_after_header

# Seconds a client over a connection cap is told to wait before it tries again.
CONNECTIONS_RETRY_AFTER = "5"
# The rest of the request is unread or unreadable: the connection cannot be reused.
_CLOSING = (BodyTooLarge, RequestTimeout, TooManyConnections, InvalidRequest, HeadTooLarge)


def refusal_headers(
    error: ProtocolError, token_sent: bool | None
) -> tuple[list[tuple[str, str]], bool]:
    """The headers the answer to ``error`` adds, and whether the connection closes after.

    ``token_sent``: whether the request carried a token (a 401's challenge says so);
    None when the request is not known, and then a 401 has no challenge.
    """
    headers: list[tuple[str, str]] = []
    if isinstance(error, Unauthorized) and token_sent is not None:
        headers.append(("WWW-Authenticate", www_authenticate(token_sent)))
    if isinstance(error, RateLimited | Muted | Disconnected | Indexing):
        headers.append(("Retry-After", retry_after_header(error.retry_after)))
    if isinstance(error, TooManyConnections):
        headers.append(("Retry-After", CONNECTIONS_RETRY_AFTER))
    if isinstance(error, MethodNotAllowed):
        headers.append(("Allow", error.allow))
    if isinstance(error, UpgradeRequired):
        headers.append(("Sec-WebSocket-Version", "13"))  # RFC 6455 section 4.4
    return headers, isinstance(error, _CLOSING)


def transfer_coding_error(coding: str | None) -> InvalidRequest | None:
    """The refusal of a ``Transfer-Encoding`` other than ``chunked`` alone, on either path.

    A coding before ``chunked`` (``gzip, chunked``) would be ignored, so the body read
    would not be the body sent, and a proxy in front may frame the request differently
    (RFC 9112 section 6.1): ``400`` and the connection closed (``InvalidRequest`` closes).
    """
    if coding is None or coding.strip().lower() == "chunked":
        return None
    return InvalidRequest(f"unsupported Transfer-Encoding: {coding[:50]!r} (only chunked)")


def error_answer(error: ProtocolError, token_sent: bool | None) -> Answer:
    """The JSON answer to a refusal: its status, code and message, the headers it adds
    (``refusals.py``; ``token_sent`` None: the request is not known), closing the
    connection when the rest cannot be read."""
    headers, close = refusal_headers(error, token_sent)
    return Answer(error.status, error_body(error.code, error.message), headers=headers, close=close)
