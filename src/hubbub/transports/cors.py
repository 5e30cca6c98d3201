"""Cross-origin access to the protocol's routes, for pages that embed hubbub.

Off unless ``--allow-origin`` names origins (or ``*``). Browsers then let a page
of an allowed origin read answers, open an ``EventSource``, and send the JSON
publish after a preflight (``Content-Type: application/json`` is not a simple
request, Fetch standard section 3.2.3). WebSocket has no CORS: its handshake is
checked against the same list by ``origins.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hubbub.http.answers import Answer
from hubbub.http.cors import allowed_origin_for, origin_header_pairs

if TYPE_CHECKING:
    from hubbub.http.head import Request

# Preflight answers may be cached this long by the browser (seconds).
MAX_AGE = "600"


def allowed_origin(request: Request) -> str | None:
    """The value of ``Access-Control-Allow-Origin`` for this request, if any."""
    configured: str | None = request.app.node.settings.allow_origin
    return allowed_origin_for(configured, request.headers.get("origin"))


def applies_to(request: Request) -> bool:
    return request.path.startswith("/rooms") or request.path in ("/healthz", "/metrics", "/search")


def add_origin_headers(request: Request, answer: Answer) -> None:
    """``Access-Control-Allow-Origin`` (and ``Vary``) for an allowed ``Origin``."""
    answer.headers.extend(origin_header_pairs(allowed_origin(request)))


def preflight(request: Request) -> Answer:
    """``OPTIONS``: which methods and headers a cross-origin page may use."""
    return preflight_response(request, "GET, POST", "Authorization, Content-Type, Last-Event-ID")


def search_preflight(request: Request) -> Answer:
    """``OPTIONS`` of the search routes: a search with a token needs one."""
    return preflight_response(request, "GET", "Authorization")


def preflight_response(request: Request, methods: str, headers: str) -> Answer:
    """``204``, with the permissions only when the ``Origin`` is allowed."""
    answer = Answer(204, content_type=None)
    if allowed_origin(request) is not None:
        answer.headers += [
            ("Access-Control-Allow-Methods", methods),
            ("Access-Control-Allow-Headers", headers),
            ("Access-Control-Max-Age", MAX_AGE),
        ]
    return answer
