"""The one subscribe URL, ``GET /rooms/{room}/messages``, ``GET /rooms`` and ``/healthz``.

The transport is chosen from the request, as Nchan does it: an upgrade is a
WebSocket (taken by the front, ``front/websocket.py``), ``Accept: text/event-stream``
is SSE, a ``wait`` parameter is a long poll, and anything else is a short poll.
"""

from __future__ import annotations

import orjson
from aiohttp import web

from hubbub.front.head import accepts_event_stream
from hubbub.protocol.cursors import parse_limit, parse_read_query
from hubbub.protocol.messages import validate_room
from hubbub.transports.http import json_response, node_of, principal_of
from hubbub.transports.poll import poll
from hubbub.transports.sse import sse_stream
from hubbub.transports.websocket import refuse_stray_upgrade


def wants_event_stream(request: web.Request) -> bool:
    return accepts_event_stream(request.headers.get("Accept"))


async def read_messages(request: web.Request) -> web.StreamResponse:
    principal_of(request)  # the token first: without one, nothing else is told
    room = validate_room(request.match_info["room"])
    refuse_stray_upgrade(request)  # the front upgrades; HEAD is answered as a poll
    if wants_event_stream(request):
        return await sse_stream(request, room)
    return await poll(request, room, parse_read_query(request.query))


async def list_rooms(request: web.Request) -> web.Response:
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


async def healthz(request: web.Request) -> web.Response:
    if not await node_of(request).healthy():
        return json_response(orjson.dumps({"status": "unavailable"}), 503, no_store=True)
    return json_response(orjson.dumps({"status": "ok"}), no_store=True)
