"""The one subscribe URL, ``GET /rooms/{room}/messages``: the transport is chosen from
the request, as Nchan does it. An upgrade is a WebSocket (``websocket.py``),
``Accept: text/event-stream`` is SSE (``sse.py``), a ``wait`` parameter is a long poll,
and anything else is a short poll (``transports/poll.py``). ``HEAD`` is never upgraded
nor streamed: it gets the head of a poll's answer (or of the stream's, after the same
checks).
"""

from __future__ import annotations

from collections.abc import Awaitable

from hubbub.front.sse import start_events
from hubbub.front.websocket import start_websocket
from hubbub.http.answers import Answer
from hubbub.http.head import Request, accepts_event_stream, is_websocket_upgrade
from hubbub.http.streaming import Takeover
from hubbub.protocol.cursors import parse_read_query
from hubbub.protocol.messages import validate_room
from hubbub.transports.chat import presence_user
from hubbub.transports.http import node_of, principal_of
from hubbub.transports.poll import poll
from hubbub.transports.sse import SSE_HEADERS, stream_cursor
from hubbub.transports.websocket import check_upgrade_request


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
