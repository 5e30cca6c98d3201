"""Signed test tokens for servers with access control on (``auth_secret=SECRET``)."""

from __future__ import annotations

import time
from typing import Any

import jwt

SECRET = "a test secret that is longer than 32 bytes"
OTHER_SECRET = "another secret, also longer than 32 bytes"


def make_token(
    user: str = "alice",
    *,
    ttl: float = 600.0,
    read: list[str] | None = None,
    write: list[str] | None = None,
    secret: str = SECRET,
    mod: list[str] | None = None,
    admin: bool = False,
) -> str:
    """An HS256 token for ``user`` valid ``ttl`` seconds (negative: already expired).

    ``read``/``write`` None with the other None: no ``rooms`` claim (every room).
    """
    claims: dict[str, Any] = {"sub": user, "exp": time.time() + ttl}
    if read is not None or write is not None:
        claims["rooms"] = {"read": read or [], "write": write or []}
    if mod is not None:
        claims["mod"] = mod
    if admin:
        claims["admin"] = True
    return jwt.encode(claims, secret, algorithm="HS256")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
