"""Moderation routes: mutes (moderators of the room), and the admin's disconnect, clear and audit.

Each checks the token first (``401`` without one when tokens are on), then the request,
then who may (``403``); the rules are in ``moderation/service.py``.
"""

from __future__ import annotations

import time
from dataclasses import replace

import orjson
from aiohttp import web

from hubbub.errors import InvalidMessage, InvalidParameter, UnsupportedMediaType
from hubbub.principal import Principal
from hubbub.protocol.cursors import parse_id, parse_limit
from hubbub.protocol.messages import parse_json_object, validate_room, validate_user
from hubbub.protocol.moderation import validate_mute_request
from hubbub.transports.admin import peer_address
from hubbub.transports.http import (
    JSON,
    expect_continue,
    json_response,
    node_of,
    principal_of,
    read_body,
)

AUDIT_PAGE = 100


async def _json_body(request: web.Request) -> bytes:
    if request.content_type != JSON:
        raise UnsupportedMediaType("send it with Content-Type: application/json")
    return await read_body(request, node_of(request).settings.max_body)


def _path_user(request: web.Request) -> str:
    try:
        return validate_user(request.match_info["user"])
    except InvalidMessage as error:
        raise InvalidParameter(f"the user in the path: {error.message}") from error


def _principal(request: web.Request) -> Principal:
    """Who asks. On a server without tokens the admin rule is "this machine only", and a
    request a proxy forwarded (it says so in its headers) never counts as this machine,
    whatever its peer address: the same rule as the operations page's
    (``transports/admin.py: peer_address``)."""
    principal = principal_of(request)
    if node_of(request).access.enabled:
        return principal
    return replace(principal, address=peer_address(request))


async def add_mute(request: web.Request) -> web.Response:
    """``POST /rooms/{room}/mutes`` ``{"user", "seconds", "reason"}``: ``201`` with the mute."""
    node = node_of(request)
    principal = _principal(request)
    room = validate_room(request.match_info["room"])
    mute_request = validate_mute_request(parse_json_object(await _json_body(request)))
    mute = await node.moderation.mute(principal, room, mute_request)
    return json_response(orjson.dumps({"mute": mute.to_dict(time.time())}), 201, no_store=True)


async def list_mutes(request: web.Request) -> web.Response:
    """``GET /rooms/{room}/mutes``: ``{"mutes": [...]}``, the room's active mutes by user."""
    node = node_of(request)
    principal = _principal(request)
    room = validate_room(request.match_info["room"])
    mutes = await node.moderation.list_mutes(principal, room)
    now = time.time()
    body = orjson.dumps({"mutes": [mute.to_dict(now) for mute in mutes]})
    return json_response(body, no_store=True)


async def all_mutes(request: web.Request) -> web.Response:
    """``GET /admin/mutes``: ``{"mutes": [...]}``, every room's active mutes (admins)."""
    node = node_of(request)
    mutes = await node.moderation.all_mutes(_principal(request))
    now = time.time()
    body = orjson.dumps({"mutes": [mute.to_dict(now) for mute in mutes]})
    return json_response(body, no_store=True)


async def lift_mute(request: web.Request) -> web.Response:
    """``DELETE /rooms/{room}/mutes/{user}``: ``204``; ``404`` if the user is not muted."""
    node = node_of(request)
    principal = _principal(request)
    room = validate_room(request.match_info["room"])
    await node.moderation.unmute(principal, room, _path_user(request))
    return web.Response(status=204)


async def disconnect_user(request: web.Request) -> web.Response:
    """``POST /admin/users/{user}/disconnect``: every connection of the user, on every node."""
    node = node_of(request)
    principal = _principal(request)
    user = _path_user(request)
    closed = await node.moderation.disconnect(principal, user)
    return json_response(orjson.dumps({"user": user, "closed_here": closed}), no_store=True)


async def clear_room(request: web.Request) -> web.Response:
    """``POST /admin/rooms/{room}/clear``: the room's log starts over in a new epoch."""
    node = node_of(request)
    principal = _principal(request)
    room = validate_room(request.match_info["room"])
    epoch = await node.moderation.clear(principal, room)
    return json_response(orjson.dumps({"room": room, "epoch": epoch}), no_store=True)


async def audit(request: web.Request) -> web.Response:
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


def add_moderation_routes(app: web.Application) -> None:
    app.router.add_post("/rooms/{room}/mutes", add_mute, expect_handler=expect_continue)
    app.router.add_get("/rooms/{room}/mutes", list_mutes, expect_handler=expect_continue)
    app.router.add_delete("/rooms/{room}/mutes/{user}", lift_mute, expect_handler=expect_continue)
    app.router.add_post(
        "/admin/users/{user}/disconnect", disconnect_user, expect_handler=expect_continue
    )
    app.router.add_post("/admin/rooms/{room}/clear", clear_room, expect_handler=expect_continue)
    app.router.add_get("/admin/mutes", all_mutes, expect_handler=expect_continue)
    app.router.add_get("/admin/audit", audit, expect_handler=expect_continue)
