"""Cross-origin access to the protocol's routes, for pages that embed hubbub.

Off unless ``--allow-origin`` names origins (or ``*``). Browsers then let a page
of an allowed origin read answers, open an ``EventSource``, and send the JSON
publish after a preflight (``Content-Type: application/json`` is not a simple
request, Fetch standard section 3.2.3). WebSocket has no CORS: its handshake is
checked against the same list by ``origins.py``.
"""

from __future__ import annotations

from aiohttp import web

from hubbub.transports.http import node_of

# Preflight answers may be cached this long by the browser (seconds).
MAX_AGE = "600"


def allowed_origin(request: web.Request) -> str | None:
    """The value of ``Access-Control-Allow-Origin`` for this request, if any."""
    return allowed_origin_for(node_of(request).settings.allow_origin, request.headers.get("Origin"))


def allowed_origin_for(configured: str | None, origin: str | None) -> str | None:
    """``Access-Control-Allow-Origin`` for ``origin`` under ``--allow-origin``, if any."""
    if not configured or origin is None:
        return None
    origins = {item.strip() for item in configured.split(",")}
    if "*" in origins:
        return "*"
    return origin if origin in origins else None


def applies_to(request: web.Request) -> bool:
    return request.path.startswith("/rooms") or request.path in ("/healthz", "/metrics", "/search")


def add_origin_headers(request: web.Request, response: web.StreamResponse) -> None:
    """``Access-Control-Allow-Origin`` (and ``Vary``) for an allowed ``Origin``."""
    response.headers.extend(origin_header_pairs(allowed_origin(request)))


def origin_header_pairs(allowed: str | None) -> list[tuple[str, str]]:
    """The headers an answer carries for ``allowed`` (``allowed_origin_for``): none, or
    ``Access-Control-Allow-Origin`` with ``Vary: Origin`` unless it is ``*``."""
    if allowed is None:
        return []
    pairs = [("Access-Control-Allow-Origin", allowed)]
    if allowed != "*":
        pairs.append(("Vary", "Origin"))
    return pairs


async def preflight(request: web.Request) -> web.Response:
    """``OPTIONS``: which methods and headers a cross-origin page may use."""
    return preflight_response(request, "GET, POST", "Authorization, Content-Type, Last-Event-ID")


async def search_preflight(request: web.Request) -> web.Response:
    """``OPTIONS`` of the search routes: a search with a token needs one."""
    return preflight_response(request, "GET", "Authorization")


def preflight_response(request: web.Request, methods: str, headers: str) -> web.Response:
    """``204``, with the permissions only when the ``Origin`` is allowed."""
    response = web.Response(status=204)
    if allowed_origin(request) is not None:
        response.headers.update(
            {
                "Access-Control-Allow-Methods": methods,
                "Access-Control-Allow-Headers": headers,
                "Access-Control-Max-Age": MAX_AGE,
            }
        )
    return response
