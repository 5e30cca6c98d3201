"""New epochs: random, short, and safe in a URL, an SSE ``id:`` line and a Redis key."""

from __future__ import annotations

import secrets


def new_epoch() -> str:
    """8 random bytes as 16 hex digits: never repeats in practice."""
    return secrets.token_hex(8)
