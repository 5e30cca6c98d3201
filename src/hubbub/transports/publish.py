"""``POST /rooms/{room}/messages``: publish over HTTP."""

from __future__ import annotations

from aiohttp import web

from hubbub.errors import UnsupportedMediaType
from hubbub.protocol.messages import parse_json_object, validate_publish, validate_room
from hubbub.transports.http import JSON, json_response, node_of, principal_of, read_body


async def publish(request: web.Request) -> web.Response:
    """Store one message; answer only once it is committed.

    ``201`` with the new message, or ``200`` with the original one when the
    ``client_id`` was already used in this room.
    """
    node = node_of(request)
    principal = principal_of(request)  # the token first: without one, nothing else is told
    room = validate_room(request.match_info["room"])
    if request.content_type != JSON:
        raise UnsupportedMediaType("publish with Content-Type: application/json")
    body = await read_body(request, node.settings.max_body)
    fields = parse_json_object(body)
    publish = validate_publish(
        room, fields, node.settings.max_text, user_required=node.user_required
    )
    committed = await node.publish(principal, publish)
    return json_response(committed.message.json, 201 if committed.created else 200)
