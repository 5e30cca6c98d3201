"""Server settings: one frozen dataclass, grouped by concern.

Only ``cli.py`` reads flags and the environment; everything else receives a
``Settings`` so tests can build one with millisecond heartbeats and tiny limits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from hubbub.address_list import LOOPBACK, parse_cidr_list
from hubbub.protocol.forwarded import parse_networks
from hubbub.protocol.tokens import check_secret

StoreKind = Literal["sqlite", "memory", "redis"]

KIB = 1024
MIB = 1024 * KIB


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything a hubbub node needs to know, with the protocol's defaults."""

    # Listening
    host: str = "127.0.0.1"
    port: int = 8000

    # Store
    store: StoreKind = "sqlite"
    db: str = "hubbub.db"
    retain: int | None = None  # messages kept per room; None keeps everything
    # SQLite's synchronous mode in WAL: "full" (survives power loss) or "normal"
    # (survives a crash of the process; faster).
    sqlite_synchronous: str = "full"
    # The SQLite store's search index (store/sqlite_search.py); False: searches answer 501.
    search_index: bool = True
    # Several servers append to one SQLite file (they need a broker between them).
    shared_db: bool = False
    # A room nobody has used for this long is forgotten (memory back to the system).
    room_idle: float = 30.0
    # Rooms that may hold messages (None: no cap); a publish that would create one more is
    # refused with 403 too_many_rooms. Checked inside the store's write (see store/base.py).
    max_rooms: int | None = None

    # Scale-out: Redis carries messages between nodes (and holds the logs with store
    # "redis"); several URLs shard rooms across several Redis servers.
    redis: tuple[str, ...] = ()
    # Accept a Redis that may lose acknowledged writes (no fsync on every write).
    redis_weak_durability: bool = False
    # Processes serving one port (SO_REUSEPORT); more than one needs Redis.
    workers: int = 1
    # What the operations page calls this node (None: host name and process id; each of
    # --workers N is named after it with /worker-K)
    node_name: str | None = None

    # Limits
    max_body: int = 64 * KIB
    max_text: int = 4000
    outbox_limit: int = 1 * MIB
    max_fragments: int = 128  # WebSocket frames one message may be cut into
    # Open connections, in all and per client address (None: a tenth of the cap, so no
    # one address can hold every slot); also capped below the file limit (connections.py)
    max_connections: int = 10_000
    max_connections_per_ip: int | None = None
    # Reverse proxies (CIDRs) whose X-Forwarded-For / X-Real-IP name the client: its
    # address is what the caps, rate limits and logs count (protocol/forwarded.py)
    trusted_proxies: tuple[str, ...] = ()

    # Rate limiting (off unless set): publishes per second per client address
    rate_limit: float | None = None
    rate_burst: int | None = None  # default: the rate, rounded up

    # Timeouts
    heartbeat: float = 15.0
    # A connection must send a complete request head within this long of opening
    # or of its previous answer (idle keep-alive connections are closed too)
    idle_timeout: float = 30.0
    # A request body must arrive in full within this long (408 otherwise)
    body_timeout: float = 30.0
    # How long a closing connection keeps discarding an unread request body so
    # that the client can still read our 413 (RFC 9112 section 9.6).
    lingering_time: float = 2.0
    # At shutdown every long poll is answered and every stream and socket told at once;
    # this bounds only the wait for clients to take that (read the answer, return the
    # WebSocket close) before their connections are cut. Every connection waits
    # under the one deadline, so a stop takes at most this plus closing the store.
    shutdown_timeout: float = 2.0

    # Cross-origin pages: None (off), "*", or a comma-separated list of origins
    allow_origin: str | None = None
    # Names the server is reached by, besides addresses, localhost and --allow-origin's
    # hosts: without tokens, a request naming another host is refused (protocol/hosts.py)
    public_host: tuple[str, ...] = ()

    # One JSON line per request or stream: a file path, "-" for standard error, or None
    access_log: str | None = None

    # Pages
    static_dir: str | None = None  # files served at / before the built-in page (--static)

    # Tutorial dialect
    lobby: str = "lobby"
    # With access control on, the dialect's routes stay open to everyone (they
    # reach the lobby room only); otherwise they take a token like every route.
    open_lobby: bool = False

    # Chat: seconds a user stays present after their last connection closed (a reload is
    # not a leave), and the rooms one ``GET /ws`` connection may subscribe to at once
    presence_grace: float = 5.0
    # With --redis: seconds a node's presence entries live in Redis unless refreshed (every
    # third of it), so the users of a node that died leave within about this time
    presence_ttl: float = 15.0
    max_subscriptions: int = 100

    # Conformance testing only: GET /ws-echo echoes WebSocket messages through the same
    # handshake, limits and origin check as the room sockets (tests/autobahn.py); no flag
    ws_echo: bool = False

    # Who may read /metrics: client addresses in these networks (CIDR strings)
    metrics_allow: tuple[str, ...] = LOOPBACK
    # Under --workers: the directory where each worker keeps its counters for the others'
    # /metrics (transports/metrics.py), and this worker's number; None for one process
    metrics_dir: str | None = None
    worker: int | None = None

    # Access control (off unless a key is set): HS256 secrets, paths of PEM public keys
    # (RS256 or ES256) and of a JWKS document; a token verifies with any of them, so that
    # keys can be rotated (keyring.py). auth_secret and auth_public_key are one more each.
    auth_secret: str | None = None
    auth_public_key: str | None = None
    auth_secrets: tuple[str, ...] = ()
    auth_public_keys: tuple[str, ...] = ()
    auth_jwks: str | None = None  # read again on SIGHUP, with the PEM files

    def __post_init__(self) -> None:
        if self.sqlite_synchronous not in ("full", "normal"):
            raise ValueError("sqlite_synchronous must be full or normal")
        if self.retain is not None and self.retain < 1:
            raise ValueError("retain must be at least 1")
        if self.max_body < 1 or self.max_text < 1 or self.outbox_limit < 1:
            raise ValueError("limits must be positive")
        if self.rate_limit is not None and self.rate_limit <= 0:
            raise ValueError("rate_limit must be positive")
        if self.rate_burst is not None and self.rate_burst < 1:
            raise ValueError("rate_burst must be at least 1")
        if self.heartbeat <= 0:
            raise ValueError("heartbeat must be positive")
        if self.idle_timeout <= 0 or self.body_timeout <= 0:
            raise ValueError("timeouts must be positive")
        if self.max_fragments < 1 or self.max_connections < 1:
            raise ValueError("max_fragments and max_connections must be at least 1")
        if self.max_connections_per_ip is not None and self.max_connections_per_ip < 1:
            raise ValueError("max_connections_per_ip must be at least 1")
        if not 0 < self.presence_grace <= 10:
            raise ValueError("presence_grace must be more than 0 and at most 10 seconds")
        if self.presence_ttl <= 0:
            raise ValueError("presence_ttl must be positive")
        for proxies in self.trusted_proxies:
            parse_networks(proxies)
        if self.max_rooms is not None and self.max_rooms < 1:
            raise ValueError("max_rooms must be at least 1")
        if self.max_subscriptions < 1:
            raise ValueError("max_subscriptions must be at least 1")
        parse_cidr_list(",".join(self.metrics_allow) or "none")

        for secret in self.verifying_secrets:
            check_secret(secret)
        if self.access_log == "":
            raise ValueError("access_log must be a file path, or - for standard error")
        if "" in self.verifying_public_keys or self.auth_jwks == "":
            raise ValueError("the auth public key and JWKS document must be file paths")
        self._check_scale_out()

    @property
    def verifying_secrets(self) -> tuple[str, ...]:
        """Every HS256 secret that verifies tokens."""
        single = () if self.auth_secret is None else (self.auth_secret,)
        return single + self.auth_secrets

    @property
    def verifying_public_keys(self) -> tuple[str, ...]:
        """Every PEM public key file that verifies tokens."""
        single = () if self.auth_public_key is None else (self.auth_public_key,)
        return single + self.auth_public_keys

    def _check_scale_out(self) -> None:
        if self.workers < 1:
            raise ValueError("workers must be at least 1")
        if self.redis:
            if self.store == "memory":
                raise ValueError(
                    "--store memory cannot be shared between processes: use sqlite or redis"
                )
            return
        if self.store == "redis":
            raise ValueError("--store redis needs --redis URL")
        if self.workers > 1:
            raise ValueError("--workers needs --redis URL (Redis carries messages between them)")

    def describe_store(self, *, durable: bool = True) -> str:
        """A short human description of the store, for the start-up log line.

        ``durable=False`` (a Redis store that does not fsync every write, accepted with
        --redis-weak-durability) says what a 201 means then.
        """
        if self.store == "sqlite" and self.redis:
            return f"sqlite {self.db} shared, broker: redis {redacted(self.redis)}"
        if self.store == "sqlite":
            weak = "" if self.sqlite_synchronous == "full" else ", synchronous=normal"
            return f"sqlite {self.db}{weak}"
        if self.store == "redis":
            described = f"redis {redacted(self.redis)}"
            if not durable:
                described += (
                    ", WEAK DURABILITY: a 201 means Redis accepted the message, "
                    "not that it is on disk"
                )
            return described
        return "memory (nothing survives a restart)"


def redacted(urls: tuple[str, ...]) -> str:
    """Redis URLs for a log line, without their passwords."""
    return ",".join(re.sub(r"//[^/@]*@", "//***@", url) for url in urls)
