"""Which browser pages may use hubbub: the ``Origin`` check of WebSockets and form posts.

A browser sends ``Origin`` on every WebSocket handshake and every cross-site
``POST``, and a page cannot forge it. WebSocket has no CORS and a ``text/plain``
or form ``POST`` needs no preflight, so for those two the server itself must
refuse a page of another origin: otherwise any site could make its visitors
read rooms or post as ``admin``. Clients that send no ``Origin`` (terminals,
curl, Node) are not pages and pass, and so does a page of hubbub's own origin.
"""

from __future__ import annotations

from yarl import URL

from hubbub.errors import Forbidden
from hubbub.http.cors import allowed_origin_for
from hubbub.http.head import Request
from hubbub.transports.http import node_of

DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def _host_port(authority: str, default_port: int) -> tuple[str, int] | None:
    """``host[:port]`` split, the host lower-cased; None when it does not parse."""
    try:
        url = URL(f"//{authority}")
    except ValueError:
        return None
    if url.host is None:
        return None
    return url.host.lower(), url.explicit_port or default_port


def same_origin(origin: str, host: str | None) -> bool:
    """Whether ``origin``'s host and port are this request's ``Host``.

    The scheme is not compared: behind a TLS proxy the page is ``https`` while
    hubbub hears ``http``. A ``Host`` without a port means the default port of
    the origin's scheme, as a browser omits it.
    """
    if not host:
        return False
    try:
        url = URL(origin)
    except ValueError:
        return False
    default = DEFAULT_PORTS.get(url.scheme)
    if default is None or url.host is None or url.path not in ("", "/"):
        return False
    theirs = (url.host.lower(), url.explicit_port or default)
    return theirs == _host_port(host, default)


def origin_allowed_for(origin: str | None, host: str | None, configured: str | None) -> bool:
    """No ``Origin``, the ``Host``'s own origin, or one that ``--allow-origin`` lists.

    Pure: the WebSocket handshake and the dialect's writes decide alike."""
    if origin is None:
        return True
    return same_origin(origin, host) or allowed_origin_for(configured, origin) is not None


def origin_refusal(
    origin: str | None, host: str | None, configured: str | None
) -> Forbidden | None:
    """The 403 ``forbidden`` for a page of an origin that may not use this server, or None."""
    if origin_allowed_for(origin, host, configured):
        return None
    shown = (origin or "")[:100]
    return Forbidden(f"pages of {shown!r} may not use this server (see --allow-origin)")


def check_origin(request: Request) -> None:
    """Refuse (403 ``forbidden``) a page of an origin that may not use this server."""
    headers = request.headers
    configured = node_of(request).settings.allow_origin
    refusal = origin_refusal(headers.get("Origin"), headers.get("Host"), configured)
    if refusal is not None:
        raise refusal
