"""Who may connect: the connection caps, the file limit, and refusals at accept.

At accept the :class:`ConnectionGuard` admits a connection or refuses it: past
``max_connections``, past the per-address cap for its address, or past what the
process's file limit leaves room for. A refused connection is answered ``503
too_many_connections`` (JSON, ``Connection: close``) at once, before it sends anything,
by a :class:`RefusedConnection` (a WebSocket client reads it instead of the upgrade), so
a client sees why instead of a reset. It never waits on the client: held past
:data:`REFUSAL_LINGER` or past the first bytes it sends, it is closed, so connections
past the cap cannot use up the descriptors kept free for refusing them.

Behind a reverse proxy (``--trusted-proxy``) the peer is the proxy, and who the client
is comes only with a request's head (``protocol/forwarded.py``). So a connection from a
trusted proxy is admitted under the global cap alone, counted under the proxy's
address; each request's head then moves it to its client's address
(:meth:`ConnectionGuard.move`), refused ``503`` if that address is at its cap. A
proxy's keep-alive connection may carry several clients' requests one after another:
it is counted under the latest (the one whose long poll or stream holds it open).

The connections (``connection.py``) ask here; nothing here imports them.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import time
from collections import Counter

from hubbub.errors import TooManyConnections
from hubbub.http.answers import DateHeader
from hubbub.http.refusals import error_answer
from hubbub.protocol.forwarded import TrustedProxies
from hubbub.stats import Stats

log = logging.getLogger("hubbub")

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
        date = guard.date_header.at(time.time())
        # The same answer as a refusal of a request (with Retry-After), closed after it.
        transport.write(error_answer(error, None).render(date, close=True))
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


def too_many_connections(reason: str) -> TooManyConnections:
    """The refusal of a connection over a cap (``reason``: the cap), on either path."""
    return TooManyConnections(f"too many connections ({reason}); try again later")
