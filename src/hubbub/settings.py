"""Server settings: one frozen dataclass, grouped by concern.

Only ``cli.py`` reads flags and the environment; everything else receives a
``Settings`` so tests can build one with millisecond heartbeats and tiny limits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from hubbub.protocol.tokens import check_secret

StoreKind = Literal["sqlite", "memory"]

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
    # Several servers append to one SQLite file (they need a broker between them).
    shared_db: bool = False
    # A room nobody has used for this long is forgotten (memory back to the system).
    room_idle: float = 30.0

    # Limits
    max_body: int = 64 * KIB
    max_text: int = 4000
    outbox_limit: int = 1 * MIB

    # Rate limiting (off unless set): publishes per second per client address
    rate_limit: float | None = None
    rate_burst: int | None = None  # default: the rate, rounded up

    # Timeouts
    heartbeat: float = 15.0
    # How long a closing connection keeps discarding an unread request body so
    # that the client can still read our 413 (RFC 9112 section 9.6).
    lingering_time: float = 2.0
    shutdown_timeout: float = 5.0

    # Cross-origin pages: None (off), "*", or a comma-separated list of origins
    allow_origin: str | None = None

    # Pages
    static_dir: str | None = None  # files served at / before the built-in page (--static)

    # Tutorial dialect
    lobby: str = "lobby"

    # Chat: seconds a user stays present after their last connection closed (a reload is
    # not a leave), and the rooms one ``GET /ws`` connection may subscribe to at once
    presence_grace: float = 5.0
    max_subscriptions: int = 100

    # Access control (off unless one is set): an HS256 secret, or the path of a
    # PEM public key (RS256 or ES256) that verifies tokens
    auth_secret: str | None = None
    auth_public_key: str | None = None

    def __post_init__(self) -> None:
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
        if not 0 < self.presence_grace <= 10:
            raise ValueError("presence_grace must be more than 0 and at most 10 seconds")
        if self.max_subscriptions < 1:
            raise ValueError("max_subscriptions must be at least 1")
        if self.auth_secret is not None and self.auth_public_key is not None:
            raise ValueError("auth_secret and auth_public_key cannot both be set: give one")
        if self.auth_secret is not None:
            check_secret(self.auth_secret)
        if self.auth_public_key == "":
            raise ValueError("the auth public key must be a file path")

    def describe_store(self) -> str:
        """A short human description of the store, for the start-up log line."""
        if self.store == "sqlite":
            return f"sqlite {self.db}"
        return "memory (nothing survives a restart)"
