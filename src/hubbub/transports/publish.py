"""``POST /rooms/{room}/messages``: publish over HTTP."""

from __future__ import annotations

from hubbub.http.answers import Answer, Later
from hubbub.http.head import Request
from hubbub.protocol.messages import parse_json_object, validate_publish, validate_room
from hubbub.store.committer import Committed
from hubbub.transports.http import json_body, json_response, node_of, principal_of


def publish(request: Request) -> Later:
    """Store one message; answer only once it is committed.

    ``201`` with the new message, or ``200`` with the original one when the
    ``client_id`` was already used in this room. The publishes pipelined on one
    connection are submitted together and share a commit."""
    node = node_of(request)
    principal = principal_of(request)  # the token first: without one, nothing else is told
    room = validate_room(request.params["room"])
    fields = parse_json_object(json_body(request, "publish"))
    publish = validate_publish(
        room, fields, node.settings.max_text, user_required=node.user_required
    )
    return Later(node.submit(principal, publish), committed_answer)


def committed_answer(committed: Committed) -> Answer:
    return json_response(committed.message.json, 201 if committed.created else 200)
