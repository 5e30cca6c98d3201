"""``GET /rooms/{room}/search`` and ``GET /search``: thin over ``searches.py``.

Each handler parses with the pure functions of ``protocol/search.py`` and hands the
principal and the request to the node's :class:`~hubbub.searches.Searches`, which
answers bytes: nothing here but reading the request and writing the answer.
"""

from __future__ import annotations

from hubbub.http.answers import Answer
from hubbub.http.head import Request
from hubbub.protocol.messages import validate_room
from hubbub.protocol.search import parse_room_search, parse_search
from hubbub.transports.http import json_response, node_of, principal_of


async def room_search(request: Request) -> Answer:
    principal = principal_of(request)  # the token first: without one, nothing else is told
    room = validate_room(request.params["room"])
    search = parse_room_search(request.query)
    body = await node_of(request).searches.room(principal, room, search)
    return json_response(body, no_store=True)


async def search(request: Request) -> Answer:
    principal = principal_of(request)
    body = await node_of(request).searches.rooms(principal, parse_search(request.query))
    return json_response(body, no_store=True)
