"""The one subscribe URL, ``GET /rooms/{room}/messages``, and ``GET /rooms``.

The transport is chosen from the request, as Nchan does it: an upgrade is a
WebSocket, ``Accept: text/event-stream`` is SSE, a ``wait`` parameter is a long
poll, and anything else is a short poll.
"""

from __future__ import annotations

import orjson
from aiohttp import web

from hubbub.protocol.cursors import parse_read_query
from hubbub.protocol.messages import validate_room
from hubbub.transports.http import json_response, node_of
from hubbub.transports.poll import long_poll, short_poll
from hubbub.transports.sse import sse_stream
from hubbub.transports.websocket import is_websocket_upgrade, websocket_stream


def wants_event_stream(request: web.Request) -> bool:
    accept = request.headers.get("Accept", "")
    return any(part.split(";")[0].strip() == "text/event-stream" for part in accept.split(","))


async def read_messages(request: web.Request) -> web.StreamResponse:
    room = validate_room(request.match_info["room"])
    if is_websocket_upgrade(request):
        return await websocket_stream(request, room)
    if wants_event_stream(request):
        return await sse_stream(request, room)
    query = parse_read_query(request.query)
    if query.wait is not None:
        return await long_poll(request, room, query)
    return await short_poll(request, room, query)


async def list_rooms(request: web.Request) -> web.Response:
    """Rooms that hold messages, by name."""
    hub = node_of(request).hub
    rooms = [
        {"name": name, "last_id": room.bounds.last_id}
        for name, room in sorted(hub.rooms.items())
        if room.bounds.last_id
    ]
    return json_response(orjson.dumps({"rooms": rooms}), no_store=True)


async def healthz(request: web.Request) -> web.Response:
    node = node_of(request)
    if node.closing or not await node.store.ping():
        return json_response(orjson.dumps({"status": "unavailable"}), 503, no_store=True)
    return json_response(orjson.dumps({"status": "ok"}), no_store=True)
