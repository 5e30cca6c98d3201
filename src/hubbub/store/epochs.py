"""New epochs: random, short, and safe in a URL, an SSE ``id:`` line and a Redis key."""

from __future__ import annotations

import secrets


def new_epoch() -> str:
    """A fresh epoch: 12 hex digits (48 random bits), safe in a URL, an SSE ``id:`` line,
    a Redis key and on a command line (``hubbub tail --epoch E``: an epoch that began with
    ``-`` would be taken for an option there); never repeats in practice."""
    return secrets.token_hex(6)
