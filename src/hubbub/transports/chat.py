"""Chat routes: who is in a room (``GET /rooms/{room}/presence``) and typing notices
(``POST /rooms/{room}/typing``), and the ``?user=`` a stream is present under."""

from __future__ import annotations

from collections.abc import Mapping

import orjson
from aiohttp import web

from hubbub.errors import InvalidMessage, InvalidParameter, UnsupportedMediaType
from hubbub.protocol.messages import parse_json_object, validate_room, validate_user
from hubbub.transports.http import JSON, json_response, node_of, principal_of, read_body


def requested_user(request: web.Request) -> str | None:
    """``?user=NAME`` on a stream or long poll URL (the ``user`` rules), or None."""
    return user_in_query(request.query)


def user_in_query(query: Mapping[str, str]) -> str | None:
    """``requested_user`` from a parsed query (the lean path has no request object)."""
    raw = query.get("user")
    if raw is None:
        return None
    try:
        return validate_user(raw)
    except InvalidMessage as error:
        raise InvalidParameter(error.message) from error


def presence_user(request: web.Request) -> str | None:
    """The name this request's connection is present under (None: anonymous)."""
    return node_of(request).presence_name(principal_of(request), requested_user(request))


async def presence(request: web.Request) -> web.Response:
    """``{"users": [{"user", "connections"}], "anonymous": N}``."""
    room = validate_room(request.match_info["room"])
    present = await node_of(request).present(principal_of(request), room)
    return json_response(orjson.dumps(present.to_dict()), no_store=True)


async def typing(request: web.Request) -> web.Response:
    """``{"user": "alice"}``: tell the room's streams; ``204`` whether or not the once a
    second rule let it through."""
    node = node_of(request)
    room = validate_room(request.match_info["room"])
    if request.content_type != JSON:
        raise UnsupportedMediaType("send typing with Content-Type: application/json")
    fields = parse_json_object(await read_body(request, node.settings.max_body))
    principal = principal_of(request)
    user = node.presence_name(principal, validate_user(fields.get("user", "")))
    if user is None:
        raise InvalidMessage("user is required")
    node.typing_notice(principal, room, user)
    return web.Response(status=204)
