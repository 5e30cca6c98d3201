"""HTTP plumbing shared by the transports: JSON answers, errors, bounded bodies."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from aiohttp.typedefs import Handler
from aiohttp.web_protocol import RequestPayloadError

from hubbub.auth import token_from
from hubbub.errors import (
    BodyTooLarge,
    ExpectationFailed,
    InvalidRequest,
    ProtocolError,
    RequestTimeout,
)
from hubbub.hub import Outbox
from hubbub.node import Node
from hubbub.principal import Principal
from hubbub.protocol.encoding import error_body
from hubbub.refusals import refusal_headers, transfer_coding_error

log = logging.getLogger(__name__)

NODE = web.AppKey("node", Node)
# The request's principal, once it is known (checked once per request).
PRINCIPAL = web.RequestKey("principal", Principal)
# The client's address (behind a trusted proxy, the one its headers name), set by
# connections.py: refusal_middleware, which sees every request first.
CLIENT_ADDRESS = web.RequestKey("client_address", str)
# A stream's outbox, whose bytes the access log adds to the response's (access_log.py).
OUTBOX = web.RequestKey("outbox", Outbox)

JSON = "application/json"
NO_STORE = {"Cache-Control": "no-store"}

# aiohttp's own refusals (unknown path, wrong method) in the protocol's error shape.
_HTTP_CODES = {400: "invalid_request", 404: "not_found", 405: "method_not_allowed"}


def node_of(request: web.Request) -> Node:
    return request.app[NODE]


def client_address_of(request: web.BaseRequest) -> str:
    """The address of the request's client (``protocol/forwarded.py``): what per-address
    caps, anonymous rate limits and logs count, on this path as on the lean one."""
    return request.get(CLIENT_ADDRESS) or request.remote or "unknown"


def stream_bytes_of(request: web.BaseRequest) -> int:
    """The bytes a stream of this request wrote past its response head (0 if none)."""
    outbox = request.get(OUTBOX)
    return 0 if outbox is None else outbox.sent


def principal_of(request: web.Request) -> Principal:
    """Who sent the request: its token (``Authorization: Bearer`` or ``?token=``)
    verified by the node's access control; ``Unauthorized`` if it is refused."""
    principal = request.get(PRINCIPAL)
    if principal is None:
        token = token_from(request.headers, request.query)
        principal = node_of(request).principal(token, client_address_of(request))
        request[PRINCIPAL] = principal
    return principal


def json_response(body: bytes, status: int = 200, *, no_store: bool = False) -> web.Response:
    return web.Response(
        body=body, status=status, content_type=JSON, headers=NO_STORE if no_store else None
    )


def error_response(error: ProtocolError, request: web.Request | None = None) -> web.Response:
    """The JSON error answer; a 401 to ``request`` carries its ``WWW-Authenticate``."""
    response = json_response(error_body(error.code, error.message), error.status)
    token_sent = None
    if request is not None:
        token_sent = token_from(request.headers, request.query) is not None
    headers, close = refusal_headers(error, token_sent)
    response.headers.extend(headers)
    if close:
        response.force_close()
    return response


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn every refusal into the protocol's JSON error body; refuse (421) a request
    naming a host a token-less server is not known by (``protocol/hosts.py``)."""
    try:
        framing = transfer_coding_error(request.headers.get("Transfer-Encoding"))
        if framing is not None:
            raise framing
        refusal = node_of(request).host_refusal(request.headers.get("Host"))
        if refusal is not None:
            raise refusal
        return await handler(request)
    except ProtocolError as error:
        node_of(request).stats.rejected[error.code] += 1
        return error_response(error, request)
    except web.HTTPException as exc:
        if exc.status < 400 or exc.status not in _HTTP_CODES:
            raise
        code = _HTTP_CODES[exc.status]
        response = json_response(error_body(code, exc.reason), exc.status)
        response.headers.update({k: v for k, v in exc.headers.items() if k == "Allow"})
        return response


async def read_body(request: web.Request, max_body: int) -> bytes:
    """Read the request body, refusing it as soon as it passes ``max_body``.

    A declared ``Content-Length`` over the limit is refused before reading a
    byte; a chunked body is read only up to the limit, never buffered past it.
    A body that does not arrive in full within ``body_timeout`` (one byte every
    few seconds holds a connection forever otherwise) is a ``408``; one that
    cannot be decoded (a bad ``Content-Encoding``) is a ``400``.
    """
    declared = request.content_length
    if declared is not None and declared > max_body:
        raise BodyTooLarge(f"request body is over the {max_body}-byte limit")
    deadline = node_of(request).settings.body_timeout
    try:
        async with asyncio.timeout(deadline):
            return await _read_bounded(request, max_body)
    except TimeoutError:
        raise RequestTimeout(f"request body not received within {deadline:g} s") from None
    except RequestPayloadError as error:
        # Nothing more of this body can be read: mark it ended so that aiohttp
        # does not linger reading it (and log the same error as unhandled).
        request.content.feed_eof()
        reason = str(error).splitlines()[-1].strip()
        raise InvalidRequest(f"request body cannot be read: {reason}") from None


async def _read_bounded(request: web.Request, max_body: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.readany()
        if not chunk:
            break
        size += len(chunk)
        if size > max_body:
            raise BodyTooLarge(f"request body is over the {max_body}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


async def expect_continue(request: web.Request) -> web.StreamResponse | None:
    """``Expect: 100-continue`` on a publish route: refuse a declared body over the limit
    (``413``) instead of inviting it with ``100 Continue``; other expectations: ``417``."""
    expect = request.headers.get("Expect", "").strip().lower()
    if expect != "100-continue":
        error: ProtocolError = ExpectationFailed(f"cannot meet Expect: {expect[:50]!r}")
    else:
        max_body = node_of(request).settings.max_body
        declared = request.content_length
        if declared is None or declared <= max_body:
            if request.version >= (1, 1):
                await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                request.writer.output_size = 0  # the answer proper has not started
            return None
        error = BodyTooLarge(f"request body is over the {max_body}-byte limit")
    node_of(request).stats.rejected[error.code] += 1
    response = error_response(error)
    response.force_close()  # the body is never read: not even to drain it
    request.content.feed_eof()
    return response
