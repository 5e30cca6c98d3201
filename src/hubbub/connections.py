"""Connections: caps, the file limit, and refusals in the protocol's JSON shape.

Every accepted socket gets a :class:`GuardedHandler` (aiohttp's ``RequestHandler``
with two hooks). At ``connection_made`` the :class:`ConnectionGuard` admits it or
refuses it: past ``max_connections``, past the per-address cap for its address, or
past what the process's file limit leaves room for. A refused connection is answered
``503 too_many_connections`` (JSON, ``Connection: close``) at once, before it sends
anything, by a :class:`RefusedConnection` (a WebSocket client reads it instead of the
upgrade), so a client sees why instead of a reset. It never waits on the client: held
past :data:`REFUSAL_LINGER` or past the first bytes it sends, it is closed, so
connections past the cap cannot use up the descriptors kept free for refusing them.

Behind a reverse proxy (``--trusted-proxy``) the peer is the proxy, and who the client
is comes only with a request's head (``protocol/forwarded.py``). So a connection from a
trusted proxy is admitted under the global cap alone, counted under the proxy's
address; each request's head then moves it to its client's address
(:meth:`ConnectionGuard.move`), refused ``503`` if that address is at its cap. A
proxy's keep-alive connection may carry several clients' requests one after another:
it is counted under the latest (the one whose long poll or stream holds it open).

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
import resource
import time
from collections import Counter
from collections.abc import Callable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, cast

from aiohttp import web
from aiohttp.typedefs import Handler

from hubbub.errors import TooManyConnections
from hubbub.front.answers import DateHeader, answer
from hubbub.front.connection import FrontConnection
from hubbub.front.context import FrontContext
from hubbub.front.head import EVENTS, WEBSOCKET, WS_ECHO
from hubbub.front.sse import start_events
from hubbub.front.websocket import start_websocket
from hubbub.front.ws_echo import start_ws_echo
from hubbub.protocol.encoding import error_body
from hubbub.protocol.forwarded import TrustedProxies
from hubbub.refusals import refusal_headers
from hubbub.stats import Stats
from hubbub.transports.http import CLIENT_ADDRESS

if TYPE_CHECKING:
    from hubbub.node import Node

log = logging.getLogger("hubbub")

RETRY_AFTER = b"Retry-After: 5\r\n"

# Descriptors kept free of connections for the store, logs, and accepting (then
# refusing) connections past the cap: a tenth of the file limit, at least this.
MIN_RESERVED_FILES = 32
# At most one log line about refused connections per this many seconds.
REFUSAL_LOG_INTERVAL = 60.0
# A refused connection, once answered, is kept at most this long: its request is read
# and dropped before closing, so the close is a FIN and not a reset that could make the
# client lose the answer. Past a quarter of the reserve of such connections (the rest is
# the store's, the loop's, the logs'), closed at once.
REFUSAL_LINGER = 1.0
# The default per-address cap: this fraction of the connection cap.
PER_ADDRESS_SHARE = 10


def raise_file_limit() -> int:
    """Raise the soft ``RLIMIT_NOFILE`` to the hard one; return the soft limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):  # macOS refuses an unlimited soft limit
            pass
    return 2**31 if soft == resource.RLIM_INFINITY else soft


def connections_for(file_limit: int) -> int:
    """How many connections a file limit leaves room for, keeping a reserve."""
    return file_limit - max(MIN_RESERVED_FILES, file_limit // 10)


class ConnectionGuard:
    """Counts open connections, in all and per address, and decides who is admitted."""

    def __init__(
        self,
        stats: Stats,
        max_connections: int,
        per_ip: int | None,
        file_limit: int,
        proxies: TrustedProxies | None = None,
    ) -> None:
        self.stats = stats
        by_files = connections_for(file_limit)
        self.limit = min(max_connections, by_files)
        self.limit_reason = "file_limit" if by_files < max_connections else "max_connections"
        stats.connections_limit = self.limit
        # Default: no one address may hold more than a tenth of the connections.
        self.per_ip = per_ip if per_ip is not None else default_per_address(self.limit)
        # Peers whose requests name their client: capped per address by request (move)
        self.proxies = proxies if proxies is not None else TrustedProxies()
        self.open = 0
        # Refused connections answered and not yet closed, and how many may be.
        self.lingering = 0
        self.max_lingering = max(file_limit - by_files, 4) // 4
        self.date_header = DateHeader()
        self.by_address: Counter[str] = Counter()
        self._last_log = -REFUSAL_LOG_INTERVAL
        self._unlogged = 0
        if by_files < max_connections:
            log.warning(
                "hubbub: the file limit (%d) leaves room for %d connections, fewer than "
                "--max-connections %d: raise it (ulimit -n, LimitNOFILE=) to serve more",
                file_limit,
                max(by_files, 0),
                max_connections,
            )

    def admit(self, address: str) -> str | None:
        """Count a new connection from peer ``address`` in; the reason it is refused, or
        None. A trusted proxy's is capped per address by its requests' clients (move)."""
        reason: str | None = None
        if self.open >= self.limit:
            reason = self.limit_reason
        elif self.by_address[address] >= self.per_ip and not self.proxies.trusts(address):
            reason = "max_connections_per_ip"
        if reason is None:
            self.open += 1
            self.by_address[address] += 1
            self.stats.connections_open = self.open
            return None
        self._refused(reason, address)
        return reason

    def move(self, address: str, client: str) -> str | None:
        """A connection counted under ``address`` now serves ``client`` (a request from a
        trusted proxy named it): counted under ``client`` from now on, or, if ``client``
        is at its per-address cap, left where it is and the reason returned."""
        if client == address:
            return None
        if self.by_address[client] >= self.per_ip:
            reason = "max_connections_per_ip"
            self._refused(reason, client)
            return reason
        self._uncount(address)
        self.by_address[client] += 1
        return None

    def refuse(self, transport: asyncio.Transport, reason: str) -> None:
        """Answer a refused connection ``503`` now; it closes without waiting on the client."""
        transport.set_protocol(RefusedConnection(self, transport, too_many_connections(reason)))

    def release(self, address: str) -> None:
        self.open -= 1
        self._uncount(address)
        self.stats.connections_open = self.open

    def _uncount(self, address: str) -> None:
        self.by_address[address] -= 1
        if self.by_address[address] <= 0:
            del self.by_address[address]

    def _refused(self, reason: str, address: str) -> None:
        self.stats.connections_refused[reason] += 1
        self._unlogged += 1
        now = asyncio.get_running_loop().time()
        if now - self._last_log < REFUSAL_LOG_INTERVAL:
            return
        if reason == "max_connections_per_ip":
            # The cap this client met, not the global one.
            state = f"{self.by_address[address]} open from {address}, limit {self.per_ip}"
        else:
            state = f"{self.open} open, limit {self.limit}"
        log.warning(
            "hubbub: refusing connections (%s; %s): %d refused since the last such line; "
            "see hubbub_connections_refused_total",
            reason,
            state,
            self._unlogged,
        )
        self._last_log = now
        self._unlogged = 0


def default_per_address(limit: int) -> int:
    """The per-address cap when none is given: a share of the connection cap."""
    return max(1, limit // PER_ADDRESS_SHARE)


class RefusedConnection(asyncio.Protocol):
    """A connection past a cap: answered ``503`` at once and closed, without waiting on
    the client for more than :data:`REFUSAL_LINGER`."""

    __slots__ = ("_guard", "_timer", "_transport")

    def __init__(
        self, guard: ConnectionGuard, transport: asyncio.Transport, error: TooManyConnections
    ) -> None:
        self._guard = guard
        self._transport = transport
        self._timer: asyncio.TimerHandle | None = None
        body = error_body(error.code, error.message)
        date = guard.date_header.at(time.time())
        transport.write(answer(error.status, body, date, close=True, extra=RETRY_AFTER))
        if guard.lingering >= guard.max_lingering:
            transport.close()  # under a flood: no descriptor is kept for a refusal
            return
        guard.lingering += 1
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(REFUSAL_LINGER, transport.close)

    def data_received(self, data: bytes) -> None:
        self._transport.close()  # its request, read: the close sends no reset

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
            self._guard.lingering -= 1


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
    (connections over a cap at accept never get here: :class:`RefusedConnection`).

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


def too_many_connections(reason: str) -> TooManyConnections:
    """The refusal of a connection over a cap (``reason``: the cap), on either path."""
    return TooManyConnections(f"too many connections ({reason}); try again later")


class GuardedSite(web.BaseSite):
    """A TCP listener whose connections start on the lean path (``front/``) and go to a
    :class:`GuardedHandler` for anything else; all :class:`GuardedHandler` s when
    ``node`` is None (``--no-lean-http``)."""

    __slots__ = ("_guard", "_handler_kwargs", "_host", "_node", "_port", "_reuse_port", "front")

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
        node: Node | None = None,
    ) -> None:
        super().__init__(runner, backlog=backlog)
        self._reuse_port = reuse_port
        self._host = host
        self._port = port
        self._guard = guard
        self._handler_kwargs = handler_kwargs
        self._node = node
        self.front: FrontContext | None = None

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        loop = asyncio.get_running_loop()
        manager = self._runner.server
        assert manager is not None
        guard, kwargs = self._guard, self._handler_kwargs

        def handler() -> GuardedHandler:
            return GuardedHandler(manager, guard, loop=loop, **kwargs)

        def handed_over(address: str) -> GuardedHandler:
            return GuardedHandler(manager, guard, address, loop=loop, **kwargs)

        factory: Callable[[], asyncio.Protocol] = handler
        if self._node is not None:
            front = self.front = FrontContext(self._node, guard, handed_over, loop)
            front.access_log = kwargs.get("access_log")
            front.starters[WEBSOCKET] = start_websocket
            if self._node.settings.ws_echo:
                front.starters[WS_ECHO] = start_ws_echo
            front.starters[EVENTS] = start_events

            def factory() -> asyncio.Protocol:
                return FrontConnection(front)

        self._server = await loop.create_server(
            factory, self._host, self._port, backlog=self._backlog, reuse_port=self._reuse_port
        )
