"""Searches: which rooms a principal's search may look at, and the answer's pages.

The store finds (off the event loop); this decides the scope from the token's read
patterns and the request, so a search never looks at, counts or names a room the
caller may not read, and builds the answers with the pure functions of
``protocol/search.py``. Transports call :meth:`Searches.room` and :meth:`Searches.rooms`.
"""

from __future__ import annotations

import orjson

from hubbub.access import Access
from hubbub.errors import InvalidParameter, reading_store
from hubbub.principal import Principal
from hubbub.protocol.search import SearchRequest, encode_next, hit_object
from hubbub.protocol.tokens import allows
from hubbub.store import Store
from hubbub.store.base import Found, SearchScope


class Searches:
    """Searching one room or every room a principal may read."""

    def __init__(self, store: Store, access: Access) -> None:
        self._store = store
        self._access = access

    async def room(self, principal: Principal, room: str, request: SearchRequest) -> bytes:
        """``GET /rooms/{room}/search``: ``{"hits": [...], "before": ID | null}``, where
        ``before`` asks for the next page (null: this was the last)."""
        self._access.check_read(principal, room)
        before = None if request.before is None else (room, request.before)
        found = await self._find(request, SearchScope((room,), request.limit + 1, before))
        page = found[: request.limit]
        more = len(found) > request.limit
        return orjson.dumps(
            {
                "hits": [_hit(f, request) for f in page],
                "before": page[-1].message.id if more else None,
            }
        )

    async def rooms(self, principal: Principal, request: SearchRequest) -> bytes:
        """``GET /search``: ``{"hits": [...], "next": TOKEN | null}``, in every room the
        principal may read (or those of ``rooms`` it names, each of which it must read)."""
        scope: tuple[str, ...] | None
        if request.rooms is not None:
            for name in request.rooms:
                self._access.check_read(principal, name)
            scope = request.rooms
        else:
            scope = principal.read
        if request.after_hit is not None:
            # A next from another search, or from a token that read more: refused alike,
            # whether or not the room exists.
            room = request.after_hit[0]
            if not self._access.readable(principal, room) or not allows(scope, room):
                raise InvalidParameter("next must be the next of an earlier answer, as it was sent")
        if scope == ():
            return orjson.dumps({"hits": [], "next": None})
        # After the hit a page ended with: what was committed before it.
        found = await self._find(request, SearchScope(scope, request.limit + 1, request.after_hit))
        page = found[: request.limit]
        more = len(found) > request.limit
        last_hit = page[-1].message if page else None
        return orjson.dumps(
            {
                "hits": [_hit(f, request) for f in page],
                "next": encode_next(last_hit.room, last_hit.id) if more and last_hit else None,
            }
        )

    async def _find(self, request: SearchRequest, scope: SearchScope) -> list[Found]:
        with reading_store():
            return await self._store.search(request.query, scope)


def _hit(found: Found, request: SearchRequest) -> dict[str, object]:
    return hit_object(found.message, found.text, found.edited_ts, request.query)
