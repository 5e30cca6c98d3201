"""Search answers as the client returns them (docs/protocol.md, *Search*)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hubbub.client.errors import ProtocolViolation
from hubbub.client.events import parse_message
from hubbub.protocol.messages import Message


@dataclass(frozen=True, slots=True)
class Hit:
    """A message found: as it is now (its newest text when ``edited``), and ``ranges``,
    the ``(start, end)`` code-point offsets of its text that matched."""

    message: Message
    ranges: tuple[tuple[int, int], ...]
    edited: bool = False


@dataclass(frozen=True, slots=True)
class SearchPage:
    """One page of hits, newest first. The next page: ``before`` (a search of one room)
    or ``next`` (across rooms); both None on the last page."""

    hits: tuple[Hit, ...]
    before: int | None = None
    next: str | None = None


def _ranges(value: Any) -> tuple[tuple[int, int], ...]:
    if not isinstance(value, list) or not all(
        isinstance(r, list) and len(r) == 2 and all(type(n) is int for n in r) for r in value
    ):
        raise ProtocolViolation(f"the server sent bad 'ranges': {value!r}")
    return tuple((r[0], r[1]) for r in value)


def parse_search_page(body: Any) -> SearchPage:
    """A search answer from the wire, checked."""
    if not isinstance(body, dict) or not isinstance(body.get("hits"), list):
        raise ProtocolViolation("the server sent a search answer without 'hits'")
    hits = tuple(
        Hit(parse_message(hit), _ranges(hit.get("ranges")), hit.get("edited") is True)
        for hit in body["hits"]
    )
    before, token = body.get("before"), body.get("next")
    if before is not None and type(before) is not int:
        raise ProtocolViolation(f"the server sent a bad 'before': {before!r}")
    if token is not None and not isinstance(token, str):
        raise ProtocolViolation(f"the server sent a bad 'next': {token!r}")
    return SearchPage(hits, before, token)
