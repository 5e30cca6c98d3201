"""``GET /rooms`` and ``/healthz`` (the subscribe URL is ``front/subscribe.py``)."""

from __future__ import annotations

import orjson

from hubbub.http.answers import Answer
from hubbub.http.head import Request
from hubbub.protocol.cursors import parse_limit
from hubbub.protocol.messages import validate_room
from hubbub.transports.http import json_response, node_of, principal_of


async def list_rooms(request: Request) -> Answer:
    """Rooms that hold messages and that the token may read, by name, a page at a
    time (``after``, ``limit``)."""
    principal = principal_of(request)
    after = request.query.get("after")
    if after is not None:
        after = validate_room(after)
    limit = parse_limit(request.query.get("limit"))
    rows = await node_of(request).list_rooms(principal, after, limit + 1)
    page = rows[:limit]
    body = {
        "rooms": [{"name": name, "last_id": last_id} for name, last_id in page],
        "next": page[-1][0] if len(rows) > limit else None,
    }
    return json_response(orjson.dumps(body), no_store=True)


async def healthz(request: Request) -> Answer:
    if not await node_of(request).healthy():
        return json_response(orjson.dumps({"status": "unavailable"}), 503, no_store=True)
    return json_response(orjson.dumps({"status": "ok"}), no_store=True)
