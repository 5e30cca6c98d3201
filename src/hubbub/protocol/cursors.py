"""Cursors: parsing the read parameters and deciding where a read starts.

``since=N`` means "every message with id > N" on every transport. A room keeps
ids ``first_id..last_id`` (both 0 when empty). A cursor below ``first_id - 1``
or above ``last_id`` is a gap: the reader is told, then served from
``first_id``. These rules are pure so each transport applies the same ones.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from hubbub.errors import InvalidParameter

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_WAIT = 60.0


@dataclass(frozen=True, slots=True)
class Bounds:
    """The ids a room keeps now: ``first_id..last_id``, both 0 for an empty room."""

    first_id: int = 0
    last_id: int = 0


@dataclass(frozen=True, slots=True)
class ReadQuery:
    """A validated short or long poll: exactly one of the three read modes."""

    since: int | None
    before: int | None
    limit: int
    wait: float | None


@dataclass(frozen=True, slots=True)
class Start:
    """Where a stream or poll starts: deliver ids > ``cursor``; ``gap`` if one was found."""

    cursor: int
    gap: Bounds | None


def parse_cursor(raw: str | None, name: str = "since") -> int | None:
    """A cursor is a whole number >= 0, written in plain decimal digits."""
    if raw is None:
        return None
    text = raw.strip()
    # isdecimal() also accepts non-ASCII digits; the protocol means 0-9 only.
    if not text or not text.isascii() or not text.isdigit():
        raise InvalidParameter(f"{name} must be a whole number >= 0")
    return int(text)


def _parse_int(raw: str, name: str, low: int, high: int) -> int:
    text = raw.strip()
    if not text.isascii() or not text.lstrip("-").isdigit():
        raise InvalidParameter(f"{name} must be a whole number from {low} to {high}")
    value = int(text)
    if not low <= value <= high:
        raise InvalidParameter(f"{name} must be a whole number from {low} to {high}")
    return value


def parse_wait(raw: str) -> float:
    """``wait`` is seconds, 0 < S <= 60, fractions allowed."""
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (0 < value <= MAX_WAIT):  # also refuses nan and inf
        raise InvalidParameter(f"wait must be a number of seconds, 0 < wait <= {MAX_WAIT:g}")
    return value


def parse_read_query(query: Mapping[str, str]) -> ReadQuery:
    """Validate ``since``, ``before``, ``limit`` and ``wait`` for a poll."""
    since = parse_cursor(query.get("since"))
    before_raw = query.get("before")
    before = None
    if before_raw is not None:
        before = _parse_int(before_raw, "before", 1, 2**63 - 1)
    limit_raw = query.get("limit")
    limit = DEFAULT_LIMIT if limit_raw is None else _parse_int(limit_raw, "limit", 1, MAX_LIMIT)
    wait_raw = query.get("wait")
    wait = None if wait_raw is None else parse_wait(wait_raw)
    if before is not None and since is not None:
        raise InvalidParameter("since and before cannot be used together")
    if before is not None and wait is not None:
        raise InvalidParameter("wait cannot be used with before")
    return ReadQuery(since=since, before=before, limit=limit, wait=wait)


def stream_start(cursor: int | None, bounds: Bounds) -> Start:
    """Where a stream (SSE, WebSocket) or poll with a cursor begins.

    With no cursor the stream starts at the next message published. A cursor
    the room can no longer serve (older than what is kept, or beyond the
    newest id because the room was reset) becomes a gap, then ``first_id`` on.
    """
    if cursor is None:
        return Start(cursor=bounds.last_id, gap=None)
    if cursor > bounds.last_id or cursor + 1 < bounds.first_id:
        return Start(cursor=max(bounds.first_id - 1, 0), gap=bounds)
    return Start(cursor=cursor, gap=None)
