"""The dialect's routes, and their registration on the application.

Every route is a view of the lobby room: a publish here is an ordinary lobby
message (stored, then fanned out to every transport), and every lobby message,
whatever sent it, reaches these views. The routes accept any ``Content-Type``
(the long-polling page sends its JSON as ``text/plain``) and keep the body limit.

Such a body needs no CORS preflight, so a page of any site could post it as its
visitors: every ``POST`` here checks ``Origin`` first (``transports/origins.py``),
and answers carry CORS headers only for the origins ``--allow-origin`` lists.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiohttp import web

from hubbub.compat.dialect import (
    ANONYMOUS,
    event_source_publish,
    list_owner,
    listed,
    page_publish,
    query_id,
    status_body,
    terminal_publish,
)
from hubbub.compat.lobby import TutorialLobby
from hubbub.compat.streams import list_stream, lobby_principal
from hubbub.errors import ProtocolError, Unauthorized
from hubbub.node import Node
from hubbub.principal import Principal
from hubbub.protocol.messages import NO_USER, Publish, parse_json_object, validate_room
from hubbub.store.committer import Committed
from hubbub.transports.cors import add_origin_headers, preflight_response
from hubbub.transports.http import (
    NO_STORE,
    NODE,
    error_response,
    expect_continue,
    json_response,
    read_body,
)
from hubbub.transports.origins import check_origin
from hubbub.transports.rooms import wants_event_stream
from hubbub.transports.websocket import refuse_stray_upgrade

LOBBY = web.AppKey("tutorial_lobby", TutorialLobby)

PATHS = frozenset({"/subscribe", "/publish", "/messages", "/message"})


def add_compat_routes(app: web.Application) -> None:
    """Serve the tutorial dialect on ``settings.lobby``.

    Call after the node's own start-up hook is registered: the lobby is loaded
    from the started node.
    """
    node = app[NODE]
    validate_room(node.settings.lobby)  # refuse a bad --lobby at start-up, not per request
    lobby = app[LOBBY] = TutorialLobby(node)

    async def start(_: web.Application) -> None:
        await lobby.start()

    async def shutdown(_: web.Application) -> None:
        lobby.shutdown()

    async def cleanup(_: web.Application) -> None:
        lobby.stop()

    app.on_startup.append(start)
    app.on_shutdown.append(shutdown)
    app.on_cleanup.append(cleanup)
    app.on_response_prepare.append(cors_headers)

    router = app.router
    router.add_get("/subscribe", subscribe, expect_handler=expect_continue)
    router.add_post("/publish", publish, expect_handler=expect_continue)
    router.add_get("/messages", messages, expect_handler=expect_continue)
    router.add_post("/messages", post_messages, expect_handler=expect_continue)
    router.add_post("/message", post_message, expect_handler=expect_continue)
    for path in sorted(PATHS):
        router.add_route("OPTIONS", path, preflight, expect_handler=expect_continue)


READS = frozenset({"GET", "HEAD"})


def lobby_of(request: web.Request) -> TutorialLobby:
    return request.app[LOBBY]


async def subscribe(request: web.Request) -> web.StreamResponse:
    """GET /subscribe: held until the next lobby message, answered with its text."""
    lobby = lobby_of(request)
    principal = lobby_principal(request)
    lobby.node.check_stream(principal, lobby.name)
    try:
        # Held no longer than the token is valid; the next request would be refused.
        async with asyncio.timeout(_time_left(principal)):
            message = await lobby.next_message()
    except TimeoutError:
        raise Unauthorized("token expired") from None
    if message is None:
        # Shutting down: close without an answer. The page shows every answer
        # as a message, so an empty one would be wrong; after an error it
        # subscribes again after its pause.
        request.protocol.force_close()
        return web.Response()
    return web.Response(text=message.text, content_type="text/plain", headers=NO_STORE)


async def publish(request: web.Request) -> web.Response:
    """POST /publish ``{"message": text}``: a lobby message from ``anonymous``; ``ok``."""
    lobby = lobby_of(request)
    node = lobby.node
    check_origin(request)
    principal = lobby_principal(request)
    fields = await _read_object(request, node)
    publish = page_publish(lobby.name, fields, node.settings.max_text, _default_user(principal))
    await _commit(request, principal, publish)
    return web.Response(text="ok", content_type="text/plain", headers=NO_STORE)


async def messages(request: web.Request) -> web.StreamResponse:
    """GET /messages: the SSE list, or the newest messages as JSON (its WebSocket is the
    front's: ``compat/socket.py``)."""
    lobby = lobby_of(request)
    lobby.node.check_stream(lobby_principal(request), lobby.name)
    owner = list_owner(request.rel_url.raw_query_string)  # 400 for a bad ?id=, on each
    refuse_stray_upgrade(request)
    if wants_event_stream(request):
        return await list_stream(request, lobby, owner)
    return json_response(await lobby.listed_json(), no_store=True)


async def post_messages(request: web.Request) -> web.Response:
    """POST /messages ``{"id", "text", "username"}``: 201, or 200 for an ``id`` seen before."""
    lobby = lobby_of(request)
    node = lobby.node
    check_origin(request)
    principal = lobby_principal(request)
    fields = await _read_object(request, node)
    publish = terminal_publish(lobby.name, fields, node.settings.max_text, _default_user(principal))
    committed = await _commit(request, principal, publish)
    return json_response(listed(committed.message.message), 201 if committed.created else 200)


async def post_message(request: web.Request) -> web.Response:
    """POST /message?id=U ``{"message": text}``: ``{"status": ...}``, the HTTP status too."""
    lobby = lobby_of(request)
    node = lobby.node
    try:
        check_origin(request)
        principal = lobby_principal(request)
        fields = await _read_object(request, node)
        user = query_id(request.rel_url.raw_query_string)
        default = NO_USER if principal.user is not None else None
        publish = event_source_publish(lobby.name, user, fields, node.settings.max_text, default)
        await _commit(request, principal, publish)
    except ProtocolError as error:
        node.stats.rejected[error.code] += 1
        response = error_response(error, request)  # keeps its status and connection handling
        response.body = status_body(error.status, error.message, error.code)
        return response
    return json_response(status_body(200, "Message sent"), no_store=True)


async def preflight(request: web.Request) -> web.Response:
    """CORS preflight: the SSE tutorial's page posts JSON, allowed for listed origins."""
    allowed = request.headers.get("Access-Control-Request-Headers", "Content-Type")
    return preflight_response(request, "GET, POST, OPTIONS", allowed)


async def cors_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Answers of the dialect, errors included, follow ``--allow-origin`` like the API;
    reads (``GET``, ``HEAD``: the list, its SSE, ``/subscribe``) of a server without
    tokens are readable by a page of any origin: the lobby is public there, and no
    credentials are involved. Writes keep the origin rule (``check_origin``)."""
    if request.path not in PATHS:
        return
    if request.method in READS and not lobby_of(request).node.access.enabled:
        response.headers["Access-Control-Allow-Origin"] = "*"
    else:
        add_origin_headers(request, response)


async def _read_object(request: web.Request, node: Node) -> dict[str, Any]:
    """The body as one JSON object, whatever its ``Content-Type``: 413 past ``max_body``."""
    return parse_json_object(await read_body(request, node.settings.max_body))


def _default_user(principal: Principal) -> str:
    """Who posts when a request names nobody: the token's user, else ``anonymous``."""
    return NO_USER if principal.user is not None else ANONYMOUS


def _time_left(principal: Principal) -> float | None:
    if principal.expires is None:
        return None
    return max(0.0, principal.expires - time.time())


async def _commit(request: web.Request, principal: Principal, publish: Publish) -> Committed:
    return await lobby_of(request).node.publish(principal, publish)
