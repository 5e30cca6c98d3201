"""Cursors: parsing the read parameters and deciding where a read starts.

``since=N`` means "every message with id > N" on every transport. A room keeps
ids ``first_id..last_id`` (both 0 when empty) of one log, named by its epoch.
A cursor may carry the epoch it was read in: a cursor from another epoch (the
log started over: a memory store restarted, a backup restored, a Redis that
lost the room) is a reset, told as a gap. Without an epoch a cursor below
``first_id - 1`` or above ``last_id`` is a gap. Either way the reader is told,
then served from ``first_id``. These rules are pure so each transport applies
the same ones (docs/protocol.md, *Cursors and gaps*).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from hubbub.errors import InvalidParameter

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_WAIT = 60.0
# Ids are SQLite integers: at most 2**63 - 1, which has 19 digits. Checking the
# length first also keeps int() away from a 100,000-digit string (CPython refuses
# more than 4,300 digits with a ValueError, which must be a 400, not a 500).
MAX_ID = 2**63 - 1
_MAX_DIGITS = 19
EPOCH = re.compile(r"[A-Za-z0-9_\-]{1,64}")
WAIT = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_MAX_WAIT_CHARS = 32


@dataclass(frozen=True, slots=True)
class Bounds:
    """The ids a room keeps now (``first_id..last_id``, both 0 when empty) and its epoch."""

    first_id: int = 0
    last_id: int = 0
    epoch: str = ""


@dataclass(frozen=True, slots=True)
class Cursor:
    """A position a client holds: ids ``> since`` are wanted; ``epoch`` if it knows one."""

    since: int
    epoch: str | None = None


@dataclass(frozen=True, slots=True)
class ReadQuery:
    """A validated short or long poll: exactly one of the three read modes."""

    since: Cursor | None
    before: int | None
    limit: int
    wait: float | None
    latest: bool = False  # ?view=latest: edits and deletes applied to the messages
    around: int | None = None  # ?around=ID: the messages around that one (a search hit)


@dataclass(frozen=True, slots=True)
class Start:
    """Where a stream or poll starts: deliver ids > ``cursor``; ``gap`` if one was found."""

    cursor: int
    gap: Bounds | None


def _whole(text: str, name: str, high: int = MAX_ID) -> int:
    if not text or len(text) > _MAX_DIGITS or not text.isascii() or not text.isdigit():
        raise InvalidParameter(f"{name} must be a whole number from 0 to {high}")
    value = int(text)
    if value > high:
        raise InvalidParameter(f"{name} must be a whole number from 0 to {high}")
    return value


def parse_id(raw: str | None, name: str = "since") -> int | None:
    """A cursor id is a whole number >= 0, written in plain decimal digits (0-9 only)."""
    if raw is None:
        return None
    return _whole(raw.strip(), name)


def parse_epoch(raw: str | None) -> str | None:
    if raw is None:
        return None
    text = raw.strip()
    if EPOCH.fullmatch(text) is None:
        raise InvalidParameter("epoch must be 1 to 64 characters of A-Z a-z 0-9 _ -")
    return text


def parse_cursor(query: Mapping[str, str]) -> Cursor | None:
    """``since`` (and ``epoch`` with it) from a query; None when there is no ``since``."""
    since = parse_id(query.get("since"))
    epoch = parse_epoch(query.get("epoch"))
    return None if since is None else Cursor(since, epoch)


def parse_last_event_id(raw: str) -> Cursor:
    """``Last-Event-ID`` as the server wrote it (``EPOCH:N``) or a plain ``N``."""
    text = raw.strip()
    epoch, colon, since = text.rpartition(":")
    if not colon:
        return Cursor(_whole(text, "Last-Event-ID"))
    if EPOCH.fullmatch(epoch) is None:
        raise InvalidParameter("Last-Event-ID must be N or EPOCH:N, as the server sent it")
    return Cursor(_whole(since, "Last-Event-ID"), epoch)


def parse_number(raw: str, name: str, low: int, high: int) -> int:
    """A number parameter (``limit``, ``before``, ...): a whole number from ``low`` to
    ``high`` in plain ASCII digits, or ``InvalidParameter`` saying so."""
    text = raw.strip()
    message = f"{name} must be a whole number from {low} to {high}"
    if len(text) > _MAX_DIGITS or not text.isascii() or not text.isdigit():
        raise InvalidParameter(message)
    value = int(text)
    if not low <= value <= high:
        raise InvalidParameter(message)
    return value


def parse_wait(raw: str) -> float:
    """``wait`` is seconds, 0 < S <= 60, fractions allowed, in plain ASCII digits."""
    text = raw.strip()
    # float() alone would also read "١٢", "1_0", "6e1", "nan" and "inf": the pattern
    # keeps wait to the plain decimals every other number parameter is written in.
    if len(text) <= _MAX_WAIT_CHARS and WAIT.fullmatch(text) is not None:
        value = float(text)
    else:
        value = math.nan
    if not (0 < value <= MAX_WAIT):  # also refuses nan
        raise InvalidParameter(f"wait must be a number of seconds, 0 < wait <= {MAX_WAIT:g}")
    return value


def parse_limit(raw: str | None, default: int = DEFAULT_LIMIT) -> int:
    return default if raw is None else parse_number(raw, "limit", 1, MAX_LIMIT)


def parse_read_query(query: Mapping[str, str]) -> ReadQuery:
    """Validate ``since``, ``epoch``, ``before``, ``limit``, ``wait``, ``view`` and
    ``around`` for a poll."""
    since = parse_cursor(query)
    before_raw = query.get("before")
    before = None
    if before_raw is not None:
        before = parse_number(before_raw, "before", 1, MAX_ID)
    limit = parse_limit(query.get("limit"))
    wait_raw = query.get("wait")
    wait = None if wait_raw is None else parse_wait(wait_raw)
    if before is not None and since is not None:
        raise InvalidParameter("since and before cannot be used together")
    if before is not None and wait is not None:
        raise InvalidParameter("wait cannot be used with before")
    view = query.get("view")
    if view not in (None, "log", "latest"):
        raise InvalidParameter("view must be log or latest")
    around_raw = query.get("around")
    around = None
    if around_raw is not None:
        around = parse_number(around_raw, "around", 1, MAX_ID)
        if since is not None or before is not None or wait is not None:
            raise InvalidParameter("around cannot be used with since, before or wait")
    return ReadQuery(since, before, limit, wait, latest=view == "latest", around=around)


def stream_start(cursor: Cursor | None, bounds: Bounds) -> Start:
    """Where a stream (SSE, WebSocket) or poll with a cursor begins.

    With no cursor the stream starts at the next message published. A cursor
    from another epoch that had seen something (``since > 0``) is a reset; a
    cursor the room can no longer serve (older than what is kept, or beyond the
    newest id) is a gap. Both are told, then served from ``first_id`` on.
    """
    if cursor is None:
        return Start(cursor=bounds.last_id, gap=None)
    since = cursor.since
    reset = cursor.epoch is not None and cursor.epoch != bounds.epoch and since > 0
    if reset or since > bounds.last_id or since + 1 < bounds.first_id:
        return Start(cursor=max(bounds.first_id - 1, 0), gap=bounds)
    return Start(cursor=since, gap=None)
