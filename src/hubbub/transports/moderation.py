"""Moderation routes: mutes (moderators of the room), and the admin's disconnect, clear and audit.

Each checks the token first (``401`` without one when tokens are on), then the request,
then who may (``403``); the rules are in ``moderation/service.py``.
"""

from __future__ import annotations

import time
from dataclasses import replace

import orjson

from hubbub.errors import InvalidMessage, InvalidParameter
from hubbub.http.answers import Answer
from hubbub.http.head import Request
from hubbub.http.routes import Routes
from hubbub.principal import Principal
from hubbub.protocol.cursors import parse_id, parse_limit
from hubbub.protocol.messages import parse_json_object, validate_room, validate_user
from hubbub.protocol.moderation import validate_mute_request
from hubbub.transports.admin import peer_address
from hubbub.transports.http import json_body, json_response, node_of, principal_of

AUDIT_PAGE = 100


def _path_user(request: Request) -> str:
    try:
        return validate_user(request.params["user"])
    except InvalidMessage as error:
        raise InvalidParameter(f"the user in the path: {error.message}") from error


def _principal(request: Request) -> Principal:
    """Who asks. On a server without tokens the admin rule is "this machine only", and a
    request a proxy forwarded (it says so in its headers) never counts as this machine,
    whatever its peer address: the same rule as the operations page's
    (``transports/admin.py: peer_address``)."""
    principal = principal_of(request)
    if node_of(request).access.enabled:
        return principal
    return replace(principal, address=peer_address(request))


async def add_mute(request: Request) -> Answer:
    """``POST /rooms/{room}/mutes`` ``{"user", "seconds", "reason"}``: ``201`` with the mute."""
    node = node_of(request)
    principal = _principal(request)
    room = validate_room(request.params["room"])
    mute_request = validate_mute_request(parse_json_object(json_body(request, "send it")))
    mute = await node.moderation.mute(principal, room, mute_request)
    return json_response(orjson.dumps({"mute": mute.to_dict(time.time())}), 201, no_store=True)


async def list_mutes(request: Request) -> Answer:
    """``GET /rooms/{room}/mutes``: ``{"mutes": [...]}``, the room's active mutes by user."""
    node = node_of(request)
    principal = _principal(request)
    room = validate_room(request.params["room"])
    mutes = await node.moderation.list_mutes(principal, room)
    now = time.time()
    body = orjson.dumps({"mutes": [mute.to_dict(now) for mute in mutes]})
    return json_response(body, no_store=True)


async def all_mutes(request: Request) -> Answer:
    """``GET /admin/mutes``: ``{"mutes": [...]}``, every room's active mutes (admins)."""
    node = node_of(request)
    mutes = await node.moderation.all_mutes(_principal(request))
    now = time.time()
    body = orjson.dumps({"mutes": [mute.to_dict(now) for mute in mutes]})
    return json_response(body, no_store=True)


async def lift_mute(request: Request) -> Answer:
    """``DELETE /rooms/{room}/mutes/{user}``: ``204``; ``404`` if the user is not muted."""
    node = node_of(request)
    principal = _principal(request)
    room = validate_room(request.params["room"])
    await node.moderation.unmute(principal, room, _path_user(request))
    return Answer(204)


async def disconnect_user(request: Request) -> Answer:
    """``POST /admin/users/{user}/disconnect``: every connection of the user, on every node."""
    node = node_of(request)
    principal = _principal(request)
    user = _path_user(request)
    closed = await node.moderation.disconnect(principal, user)
    return json_response(orjson.dumps({"user": user, "closed_here": closed}), no_store=True)


async def clear_room(request: Request) -> Answer:
    """``POST /admin/rooms/{room}/clear``: the room's log starts over in a new epoch."""
    node = node_of(request)
    principal = _principal(request)
    room = validate_room(request.params["room"])
    epoch = await node.moderation.clear(principal, room)
    return json_response(orjson.dumps({"room": room, "epoch": epoch}), no_store=True)


async def audit(request: Request) -> Answer:
    """``GET /admin/audit?before=ID&limit=N``: moderation actions, newest first."""
    node = node_of(request)
    principal = _principal(request)
    query = request.query
    limit = parse_limit(query.get("limit"), default=AUDIT_PAGE)
    before = parse_id(query.get("before"), "before")
    entries = await node.moderation.audit(principal, before, limit)
    following = entries[-1].id if len(entries) == limit and entries else None
    body = {"entries": [entry.to_dict() for entry in entries], "next": following}
    return json_response(orjson.dumps(body), no_store=True)


def add_moderation_routes(routes: Routes) -> None:
    routes.add("POST", "/rooms/{room}/mutes", add_mute)
    routes.add("GET", "/rooms/{room}/mutes", list_mutes)
    routes.add("DELETE", "/rooms/{room}/mutes/{user}", lift_mute)
    routes.add("POST", "/admin/users/{user}/disconnect", disconnect_user)
    routes.add("POST", "/admin/rooms/{room}/clear", clear_room)
    routes.add("GET", "/admin/mutes", all_mutes)
    routes.add("GET", "/admin/audit", audit)
