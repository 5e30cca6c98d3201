"""``hubbub serve``'s flags taken together: nonsense refused, what is ignored said.

``Settings`` takes any value a test needs (a 128-byte outbox, a one-byte body); these
are the rules for what an operator types: a value that cannot work is an error (status 2,
one line), a flag that means nothing next to the others is a warning at start.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from hubbub.settings import Settings

# No publish fits in less: {"user": "…", "text": "…"} with a short name and text.
MIN_BODY = 256


def refusal(settings: Settings) -> str | None:
    """What makes these settings unusable, or None."""
    if settings.max_body < MIN_BODY:
        return (
            f"--max-body {settings.max_body}: must be at least {MIN_BODY} bytes (no publish fits)"
        )
    if settings.outbox_limit < settings.max_body:
        return (
            f"--outbox-limit {settings.outbox_limit}: must be at least --max-body "
            f"({settings.max_body}): one message must fit, or every subscriber is dropped"
        )
    if settings.allow_origin is not None:
        for item in settings.allow_origin.split(","):
            origin = item.strip()
            if origin != "*" and not is_origin(origin):
                return (
                    f"--allow-origin: {origin!r} is not an origin: give "
                    "scheme://host[:port] (https://chat.example.com), a comma list, or *"
                )
    return None


def is_origin(text: str) -> bool:
    """``scheme://host[:port]``, as a browser sends in ``Origin``."""
    try:
        parts = urlsplit(text)
        port_ok = parts.port is None or 0 < parts.port < 65536
    except ValueError:
        return False
    return (
        parts.scheme in ("http", "https")
        and bool(parts.hostname)
        and port_ok
        and parts.path == ""
        and not parts.query
        and not parts.fragment
        and parts.username is None
    )


def ignored(settings: Settings, *, db_given: bool, sync_given: bool) -> list[str]:
    """Flags these settings ignore, each a warning for the start-up log."""
    said = []
    if settings.rate_burst is not None and settings.rate_limit is None:
        said.append("--rate-burst is ignored without --rate-limit")
    if settings.redis_weak_durability and settings.store != "redis":
        said.append("--redis-weak-durability is ignored without --store redis")
    if settings.store != "sqlite" and db_given:
        said.append(f"--db is ignored with --store {settings.store} (no SQLite file is used)")
    if settings.store != "sqlite" and sync_given:
        said.append(f"--sqlite-sync is ignored with --store {settings.store}")
    return said
