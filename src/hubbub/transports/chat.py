"""Chat routes: who is in a room (``GET /rooms/{room}/presence``) and typing notices
(``POST /rooms/{room}/typing``), and the ``?user=`` a stream is present under."""

from __future__ import annotations

from collections.abc import Mapping

import orjson

from hubbub.errors import InvalidMessage, InvalidParameter
from hubbub.http.answers import Answer
from hubbub.http.head import Request
from hubbub.protocol.messages import parse_json_object, validate_room, validate_user
from hubbub.transports.http import json_body, json_response, node_of, principal_of


def requested_user(request: Request) -> str | None:
    """``?user=NAME`` on a stream or long poll URL (the ``user`` rules), or None."""
    return requested_user_in(request.query)


def requested_user_in(query: Mapping[str, str]) -> str | None:
    """``user`` of a parsed query, checked, or None."""
    raw = query.get("user")
    if raw is None:
        return None
    try:
        return validate_user(raw)
    except InvalidMessage as error:
        raise InvalidParameter(error.message) from error


def presence_user(request: Request) -> str | None:
    """The name this request's connection is present under (None: anonymous)."""
    return node_of(request).presence_name(principal_of(request), requested_user(request))


async def presence(request: Request) -> Answer:
    """``{"users": [{"user", "connections"}], "anonymous": N}``."""
    room = validate_room(request.params["room"])
    present = await node_of(request).present(principal_of(request), room)
    return json_response(orjson.dumps(present.to_dict()), no_store=True)


def typing(request: Request) -> Answer:
    """``{"user": "alice"}``: tell the room's streams; ``204`` whether or not the once a
    second rule let it through."""
    node = node_of(request)
    room = validate_room(request.params["room"])
    fields = parse_json_object(json_body(request, "send typing"))
    principal = principal_of(request)
    user = node.presence_name(principal, validate_user(fields.get("user", "")))
    if user is None:
        raise InvalidMessage("user is required")
    node.typing_notice(principal, room, user)
    return Answer(204)
