"""HTTP plumbing shared by the transports: JSON answers, errors, bounded bodies."""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from hubbub.auth import token_from, www_authenticate
from hubbub.errors import BodyTooLarge, ProtocolError, RateLimited, Unauthorized
from hubbub.node import Node
from hubbub.principal import Principal
from hubbub.protocol.encoding import error_body
from hubbub.protocol.ratelimit import retry_after_header

log = logging.getLogger(__name__)

NODE = web.AppKey("node", Node)
# The request's principal, once it is known (checked once per request).
PRINCIPAL = web.RequestKey("principal", Principal)

JSON = "application/json"
NO_STORE = {"Cache-Control": "no-store"}

# aiohttp's own refusals (unknown path, wrong method) in the protocol's error shape.
_HTTP_CODES = {404: "not_found", 405: "method_not_allowed"}


def node_of(request: web.Request) -> Node:
    return request.app[NODE]


def principal_of(request: web.Request) -> Principal:
    """Who sent the request: its token (``Authorization: Bearer`` or ``?token=``)
    verified by the node's access control; ``Unauthorized`` if it is refused."""
    principal = request.get(PRINCIPAL)
    if principal is None:
        token = token_from(request.headers, request.query)
        principal = node_of(request).principal(token, request.remote or "unknown")
        request[PRINCIPAL] = principal
    return principal


def json_response(body: bytes, status: int = 200, *, no_store: bool = False) -> web.Response:
    return web.Response(
        body=body, status=status, content_type=JSON, headers=NO_STORE if no_store else None
    )


def error_response(error: ProtocolError, request: web.Request | None = None) -> web.Response:
    """The JSON error answer; a 401 to ``request`` carries its ``WWW-Authenticate``."""
    response = json_response(error_body(error.code, error.message), error.status)
    if isinstance(error, Unauthorized) and request is not None:
        sent = token_from(request.headers, request.query) is not None
        response.headers["WWW-Authenticate"] = www_authenticate(sent)
    if isinstance(error, BodyTooLarge):
        # The rest of the body is never read; the connection cannot be reused.
        response.force_close()
    if isinstance(error, RateLimited):
        response.headers["Retry-After"] = retry_after_header(error.retry_after)
    return response


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn every refusal into the protocol's JSON error body."""
    try:
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
    """
    declared = request.content_length
    if declared is not None and declared > max_body:
        raise BodyTooLarge(f"request body is over the {max_body}-byte limit")
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
