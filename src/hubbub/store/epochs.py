"""New epochs: random, short, and safe in a URL, an SSE ``id:`` line and a Redis key."""

from __future__ import annotations

import secrets


def new_epoch() -> str:
    """A fresh epoch: 12 characters of ``A-Z a-z 0-9 _ -`` (72 random bits), so it is
    safe in a URL, an SSE ``id:`` line and a Redis key; never repeats in practice."""
    return secrets.token_urlsafe(9)
