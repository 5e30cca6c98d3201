"""aiohttp's side of the connections: its handler counted by the guard, and refusals in
the protocol's JSON shape.

A connection the front (``front/``) hands over is served by a :class:`GuardedHandler`
(aiohttp's ``RequestHandler`` with two hooks), still counted by the
:class:`~hubbub.guard.ConnectionGuard` (``guard.py``), which admitted it at accept.

Deadlines need nothing here: aiohttp (3.12 and later) starts its keep-alive timer
when a connection opens and again after each answer, and closes the connection
when the timer fires while it still waits for a complete request head. So
``keepalive_timeout`` is both the idle keep-alive limit and the deadline for a
request head that trickles in (``Settings.idle_timeout``). Bodies have their own
deadline in ``transports/http.py: read_body``.

aiohttp answers requests its parser refuses through ``handle_error``, in text,
logging a traceback; the override answers JSON and logs one line.
"""

from __future__ import annotations

import asyncio
import logging
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, cast

from aiohttp import web
from aiohttp.typedefs import Handler

from hubbub.compat.socket import start_dialect_socket
from hubbub.front.connection import FrontConnection
from hubbub.front.context import FrontContext
from hubbub.front.head import EVENTS, WEBSOCKET, WS_DIALECT, WS_ECHO, WS_MULTIPLEX
from hubbub.front.multiplex import start_multiplex
from hubbub.front.sse import start_events
from hubbub.front.websocket import start_websocket
from hubbub.front.ws_echo import start_ws_echo
from hubbub.guard import ConnectionGuard, too_many_connections
from hubbub.protocol.encoding import error_body
from hubbub.refusals import refusal_headers
from hubbub.transports.http import CLIENT_ADDRESS

if TYPE_CHECKING:
    from hubbub.node import Node

log = logging.getLogger("hubbub")


class GuardedHandler(web.RequestHandler):
    """aiohttp's connection handler, counted by the guard, answering errors in JSON."""

    __slots__ = ("_address", "_admitted", "_guard", "_peer", "refusal")

    def __init__(
        self,
        manager: web.Server,
        guard: ConnectionGuard,
        admitted: str | None = None,
        **kwargs: Any,
    ) -> None:
        """``admitted``: the address when the lean path already admitted the connection
        (front/connection.py hands it over); None: ask the guard here."""
        super().__init__(manager, **kwargs)
        self._guard = guard
        self._admitted = admitted
        self._address: str | None = None  # counted under the guard (None: refused)
        self._peer = "unknown"
        self.refusal: str | None = None  # a request's forwarded client is at its cap

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._peer = peer_address(transport)
        if self._admitted is not None:
            address = self._admitted
        else:
            address = self._peer
            refusal = self._guard.admit(address)
            if refusal is not None:
                self._guard.refuse(cast(asyncio.Transport, transport), refusal)
                return  # aiohttp never sees it
        self._address = address
        super().connection_made(transport)

    def client_address(self, request: web.Request) -> str:
        """The request's client address (``protocol/forwarded.py``). From a trusted proxy
        the connection is counted under it from now on; if that address is at its cap,
        the connection is refused (:func:`refusal_middleware` answers ``503``)."""
        address = self._address
        if address is None:
            return self._peer
        proxies = self._guard.proxies
        if not proxies.trusts(self._peer):
            return address
        headers = request.headers
        forwarded = ",".join(headers.getall("X-Forwarded-For", ())) or None
        client = proxies.client_of(self._peer, forwarded, headers.get("X-Real-IP"))
        self.refusal = self._guard.move(address, client)
        if self.refusal is None:
            self._address = client
        return client

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._address is not None:
            self._guard.release(self._address)
            self._address = None
        super().connection_lost(exc)

    def handle_error(
        self,
        request: Any,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """A request aiohttp could not parse (or a handler crash): JSON, closed after."""
        if request.writer.output_size > 0:
            return super().handle_error(request, status, exc, message)
        if status >= 500:
            log.error("hubbub: error handling a request", exc_info=exc)
            code, text = "internal_error", "the server failed to answer this request"
        else:
            reason = (message or HTTPStatus(status).phrase).strip().splitlines()[0]
            log.debug("hubbub: refused a malformed request: %s", reason)
            code, text = "invalid_request", f"malformed request: {reason}"[:200]
        response = web.Response(
            body=error_body(code, text), status=status, content_type="application/json"
        )
        response.force_close()
        return response


def peer_address(transport: asyncio.BaseTransport) -> str:
    """The address a connection comes from (a proxy's, behind one)."""
    peer = transport.get_extra_info("peername")
    return str(peer[0]) if isinstance(peer, tuple) and peer else "unknown"


def drop_unread_encoded_body(request: web.Request, response: web.StreamResponse) -> None:
    """For every answer (``app.py: prepare_answer``): an encoded request body nobody read
    is dropped, and the connection closed after the answer.

    Runs for every answer, aiohttp's own included: a bad ``Expect`` on an unknown
    route or a wrong method is answered by aiohttp before any middleware, and aiohttp
    then reads the body to reuse the connection, logging a traceback when it cannot
    be decoded (found by tests/test_harden_fuzz.py).
    """
    if "Content-Encoding" in request.headers and not request.content.is_eof():
        request.content.feed_eof()
        response.force_close()


@web.middleware
async def refusal_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every request's client address (``protocol/forwarded.py``); a request from a trusted
    proxy whose client is at its per-address cap is answered 503 and the connection closed
    (connections over a cap at accept never get here: :class:`~hubbub.guard.RefusedConnection`).

    (An encoded request body left unread is dropped for every answer, this one included,
    by :func:`drop_unread_encoded_body`.)
    """
    protocol = request.protocol
    if isinstance(protocol, GuardedHandler):
        request[CLIENT_ADDRESS] = protocol.client_address(request)
    reason = getattr(protocol, "refusal", None)
    if reason is None:
        return await handler(request)
    error = too_many_connections(reason)
    response = web.Response(
        body=error_body(error.code, error.message),
        status=error.status,
        content_type="application/json",
        headers=refusal_headers(error, None)[0],
    )
    response.force_close()
    return response


class GuardedSite:
    """A TCP listener whose connections start on the front (``front/``) and go to a
    :class:`GuardedHandler` of ``runner``'s server for anything it does not serve.
    Without ``lean`` (``--no-lean-http``) the front serves WebSocket upgrades only.

    Not an aiohttp ``BaseSite``: a site of aiohttp's builds its own listener through the
    runner's private parts; this one takes only the runner's public ``server`` and owns
    its listener, which ``Server`` stops before the runner's cleanup."""

    __slots__ = (
        "_backlog",
        "_guard",
        "_handler_kwargs",
        "_host",
        "_lean",
        "_listener",
        "_node",
        "_port",
        "_reuse_port",
        "_runner",
        "front",
    )

    def __init__(
        self,
        runner: web.AppRunner,
        host: str,
        port: int,
        guard: ConnectionGuard,
        handler_kwargs: dict[str, Any],
        *,
        backlog: int,
        reuse_port: bool | None = None,
        node: Node,
        lean: bool = True,
    ) -> None:
        self._runner = runner
        self._backlog = backlog
        self._listener: asyncio.Server | None = None
        self._reuse_port = reuse_port
        self._host = host
        self._port = port
        self._guard = guard
        self._handler_kwargs = handler_kwargs
        self._node = node
        self._lean = lean
        self.front: FrontContext | None = None

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self._port}"

    @property
    def port(self) -> int:
        """The port it listens on (the one the kernel chose for port 0)."""
        assert self._listener is not None, "not started"
        return int(self._listener.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Stop accepting; connections already open are the server's to end."""
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        manager = self._runner.server
        assert manager is not None, "the runner is set up first"
        guard, kwargs = self._guard, self._handler_kwargs

        def handed_over(address: str) -> GuardedHandler:
            return GuardedHandler(manager, guard, address, loop=loop, **kwargs)

        front = self.front = FrontContext(self._node, guard, handed_over, loop, lean=self._lean)
        front.access_log = kwargs.get("access_log")
        front.starters[WEBSOCKET] = start_websocket
        front.starters[WS_MULTIPLEX] = start_multiplex
        front.starters[WS_DIALECT] = start_dialect_socket
        if self._node.settings.ws_echo:
            front.starters[WS_ECHO] = start_ws_echo
        if self._lean:
            front.starters[EVENTS] = start_events

        def factory() -> asyncio.Protocol:
            return FrontConnection(front)

        self._listener = await loop.create_server(
            factory, self._host, self._port, backlog=self._backlog, reuse_port=self._reuse_port
        )
