"""The one subscribe URL, ``GET /rooms/{room}/messages``, ``GET /rooms`` and ``/healthz``.

The transport is chosen from the request, as Nchan does it: an upgrade is a
WebSocket (``front/websocket.py``), ``Accept: text/event-stream`` is SSE
(``front/sse.py``), a ``wait`` parameter is a long poll, and anything else is a short
poll. ``HEAD`` is never upgraded nor streamed: it gets the head of a poll's answer
(or of the stream's, after the same checks).
"""

from __future__ import annotations

from collections.abc import Awaitable

import orjson

from hubbub.front.answers import Answer
from hubbub.front.head import Request, accepts_event_stream, is_websocket_upgrade
from hubbub.front.sse import start_events
from hubbub.front.streaming import Takeover
from hubbub.front.websocket import start_websocket
from hubbub.protocol.cursors import parse_limit, parse_read_query
from hubbub.protocol.messages import validate_room
from hubbub.transports.chat import presence_user
from hubbub.transports.http import json_response, node_of, principal_of
from hubbub.transports.poll import poll
from hubbub.transports.sse import SSE_HEADERS, stream_cursor
from hubbub.transports.websocket import check_upgrade_request


def wants_event_stream(request: Request) -> bool:
    return accepts_event_stream(request.headers.get("accept"))


def read_messages(request: Request) -> Answer | Awaitable[Answer] | Takeover:
    principal = principal_of(request)  # the token first: without one, nothing else is told
    room = validate_room(request.params["room"])
    if request.method == "GET" and is_websocket_upgrade(request):
        check_upgrade_request(request)
        return Takeover(start_websocket)
    if accepts_event_stream(request.headers.get("accept")):
        if request.method == "GET":
            return Takeover(start_events)
        # HEAD: the checks of the stream, then its head alone.
        stream_cursor(request.headers.get("last-event-id"), request.query)
        presence_user(request)
        node_of(request).check_stream(principal, room)
        return Answer(200, content_type=None, headers=list(SSE_HEADERS.items()))
    return poll(request, room, parse_read_query(request.query))


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
