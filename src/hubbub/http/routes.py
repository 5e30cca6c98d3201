"""The route table the server is handed: a method and a path pattern to a handler.

A pattern is a path whose ``{name}`` segments match one whole segment (never a ``/``);
a request matches the first route added whose pattern matches its path. A path that
matches but not for this method is a ``405`` with ``Allow``; no match is a ``404``.
``HEAD`` is served by the ``GET`` route, without the body.

A handler takes the :class:`~hubbub.http.head.Request` and returns an
:class:`~hubbub.http.answers.Answer`, an awaitable of one, a ``Later`` (one made when a
future is done), or a :class:`Takeover`
(a stream that owns the socket from then on), or raises a ``ProtocolError``.

Pure: no sockets, no event loop.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Union
from urllib.parse import unquote

from hubbub.errors import MethodNotAllowed, NotFound

if TYPE_CHECKING:
    from hubbub.http.answers import Answer, Later
    from hubbub.http.head import Request
    from hubbub.http.streaming import Streamed, Takeover

Result = Union["Answer", Awaitable["Answer"], "Later", "Takeover", "Streamed"]
Handler = Callable[["Request"], Result]


class Route:
    """One method of one pattern. ``ordered``: requests pipelined on one connection
    may be in flight together (polls of a room, publishes to it: a read waits only for
    the publishes before it); any other request waits until those before it are answered."""

    __slots__ = ("handler", "method", "name", "ordered", "pattern", "segments")

    def __init__(
        self, method: str, pattern: str, handler: Handler, name: str | None, ordered: bool
    ) -> None:
        self.method = method
        self.pattern = pattern
        self.handler = handler
        self.name = name
        self.ordered = ordered
        self.segments = tuple(pattern.split("/"))


class Match:
    """The route a request takes, and its path parameters."""

    __slots__ = ("params", "route")

    def __init__(self, route: Route, params: dict[str, str]) -> None:
        self.route = route
        self.params = params


class Routes:
    """The table: :meth:`add` routes, :meth:`match` a request's method and path."""

    __slots__ = ("_by_length", "_exact", "_fallback")

    def __init__(self) -> None:
        self._fallback: Route | None = None
        self._exact: dict[str, list[Route]] = {}  # patterns without parameters
        self._by_length: dict[int, list[Route]] = {}  # the others, by segment count

    def add(
        self,
        method: str,
        pattern: str,
        handler: Handler,
        *,
        name: str | None = None,
        ordered: bool = False,
    ) -> Route:
        if not pattern.startswith("/"):
            raise ValueError(f"a route's pattern is a path: {pattern!r}")
        route = Route(method.upper(), pattern, handler, name, ordered)
        if "{" in pattern:
            self._by_length.setdefault(len(route.segments), []).append(route)
        else:
            self._exact.setdefault(pattern, []).append(route)
        return route

    def fallback(self, handler: Handler) -> None:
        """What serves a path no route has (any method), instead of the ``404``."""
        self._fallback = Route("*", "", handler, None, False)

    def match(self, method: str, path: str, raw_path: str | None = None) -> Match:
        """The route for ``method`` and ``path``; ``NotFound`` or ``MethodNotAllowed``.

        ``raw_path``: the path as sent, escapes and all: parameters are matched on its
        segments and then decoded, so an escaped ``/`` (``%2F``) stays inside one."""
        wanted = "GET" if method == "HEAD" else method
        allowed: list[str] = []
        exact = self._exact.get(path)
        if exact is not None:
            for route in exact:
                if route.method == wanted or route.method == method:
                    return Match(route, {})
                allowed.append(route.method)
        raw = path if raw_path is None else raw_path
        candidates = self._by_length.get(raw.count("/") + 1)
        if candidates:
            segments = raw.split("/")
            for route in candidates:
                params = _params(route.segments, segments)
                if params is None:
                    continue
                if route.method == wanted or route.method == method:
                    return Match(route, params)
                allowed.append(route.method)
        if not allowed and self._fallback is not None:
            return Match(self._fallback, {})
        if allowed:
            methods = sorted(set(allowed) | ({"HEAD"} if "GET" in allowed else set()))
            raise MethodNotAllowed("Method Not Allowed", allow=", ".join(methods))
        raise NotFound("Not Found")


def _params(pattern: tuple[str, ...], segments: list[str]) -> dict[str, str] | None:
    params: dict[str, str] = {}
    for want, got in zip(pattern, segments, strict=True):
        if want.startswith("{") and want.endswith("}"):
            if not got:
                return None
            params[want[1:-1]] = unquote(got, errors="replace") if "%" in got else got
        elif want != got:
            return None
    return params
