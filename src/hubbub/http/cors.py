"""The CORS rules of ``--allow-origin``, pure: which origin an answer names, and the
header lines that say so (used by every answer of the API, files, streams)."""

from __future__ import annotations


def allowed_origin_for(configured: str | None, origin: str | None) -> str | None:
    """``Access-Control-Allow-Origin`` for ``origin`` under ``--allow-origin``, if any."""
    if not configured or origin is None:
        return None
    origins = {item.strip() for item in configured.split(",")}
    if "*" in origins:
        return "*"
    return origin if origin in origins else None


def origin_header_pairs(allowed: str | None) -> list[tuple[str, str]]:
    """The headers an answer carries for ``allowed`` (``allowed_origin_for``): none, or
    ``Access-Control-Allow-Origin`` with ``Vary: Origin`` unless it is ``*``."""
    if allowed is None:
        return []
    pairs = [("Access-Control-Allow-Origin", allowed)]
    if allowed != "*":
        pairs.append(("Vary", "Origin"))
    return pairs
