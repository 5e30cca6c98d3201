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
from collections.abc import Awaitable
from typing import Any

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
from hubbub.compat.socket import start_dialect_socket
from hubbub.compat.streams import list_stream, lobby_principal
from hubbub.errors import ProtocolError, Unauthorized
from hubbub.http.answers import NO_ANSWER, Answer
from hubbub.http.head import Request, accepts_event_stream, is_websocket_upgrade
from hubbub.http.refusals import error_answer
from hubbub.http.routes import Routes
from hubbub.http.streaming import Streamed, Takeover
from hubbub.node import Node
from hubbub.principal import Principal
from hubbub.protocol.messages import NO_USER, Publish, parse_json_object, validate_room
from hubbub.store.committer import Committed
from hubbub.transports.cors import add_origin_headers, preflight_response
from hubbub.transports.http import json_response
from hubbub.transports.origins import check_origin
from hubbub.transports.websocket import check_upgrade_request

TEXT = "text/plain; charset=utf-8"
PATHS = frozenset({"/subscribe", "/publish", "/messages", "/message"})


def add_compat_routes(routes: Routes, node: Node) -> TutorialLobby:
    """Serve the tutorial dialect on ``settings.lobby``; the lobby it serves, which the
    server starts after the node (``app.py``)."""
    validate_room(node.settings.lobby)  # refuse a bad --lobby at start-up, not per request
    routes.add("GET", "/subscribe", subscribe)
    routes.add("POST", "/publish", publish)
    routes.add("GET", "/messages", messages)
    routes.add("POST", "/messages", post_messages)
    routes.add("POST", "/message", post_message)
    for path in sorted(PATHS):
        routes.add("OPTIONS", path, preflight)
    return TutorialLobby(node)


READS = frozenset({"GET", "HEAD"})


def lobby_of(request: Request) -> TutorialLobby:
    lobby: TutorialLobby = request.app.lobby
    return lobby


async def subscribe(request: Request) -> Answer:
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
        return NO_ANSWER
    return Answer(200, message.text.encode(), content_type=TEXT, no_store=True)


async def publish(request: Request) -> Answer:
    """POST /publish ``{"message": text}``: a lobby message from ``anonymous``; ``ok``."""
    lobby = lobby_of(request)
    node = lobby.node
    check_origin(request)
    principal = lobby_principal(request)
    fields = _read_object(request)
    publish = page_publish(lobby.name, fields, node.settings.max_text, _default_user(principal))
    await _commit(request, principal, publish)
    return Answer(200, b"ok", content_type=TEXT, no_store=True)


def messages(request: Request) -> Answer | Takeover | Streamed | Awaitable[Answer]:
    """GET /messages: the SSE list, or the newest messages as JSON (its WebSocket is the
    front's: ``compat/socket.py``)."""
    lobby = lobby_of(request)
    lobby.node.check_stream(lobby_principal(request), lobby.name)
    owner = list_owner(request.raw_query)  # 400 for a bad ?id=, on each
    if request.method == "GET" and is_websocket_upgrade(request):
        check_upgrade_request(request)
        return Takeover(start_dialect_socket)
    if accepts_event_stream(request.headers.get("accept")):
        return list_stream(request, lobby, owner)
    return _listed(lobby)


async def _listed(lobby: TutorialLobby) -> Answer:
    return json_response(await lobby.listed_json(), no_store=True)


async def post_messages(request: Request) -> Answer:
    """POST /messages ``{"id", "text", "username"}``: 201, or 200 for an ``id`` seen before."""
    lobby = lobby_of(request)
    node = lobby.node
    check_origin(request)
    principal = lobby_principal(request)
    fields = _read_object(request)
    publish = terminal_publish(lobby.name, fields, node.settings.max_text, _default_user(principal))
    committed = await _commit(request, principal, publish)
    return json_response(listed(committed.message.message), 201 if committed.created else 200)


async def post_message(request: Request) -> Answer:
    """POST /message?id=U ``{"message": text}``: ``{"status": ...}``, the HTTP status too."""
    lobby = lobby_of(request)
    node = lobby.node
    try:
        check_origin(request)
        principal = lobby_principal(request)
        fields = _read_object(request)
        user = query_id(request.raw_query)
        default = NO_USER if principal.user is not None else None
        publish = event_source_publish(lobby.name, user, fields, node.settings.max_text, default)
        await _commit(request, principal, publish)
    except ProtocolError as error:
        node.stats.rejected[error.code] += 1
        answer = error_answer(error, None)  # keeps its status and connection handling
        answer.body = status_body(error.status, error.message, error.code)
        return answer
    return json_response(status_body(200, "Message sent"), no_store=True)


def preflight(request: Request) -> Answer:
    """CORS preflight: the SSE tutorial's page posts JSON, allowed for listed origins."""
    allowed = request.headers.get("access-control-request-headers") or "Content-Type"
    return preflight_response(request, "GET, POST, OPTIONS", allowed)


def cors_headers(request: Request, answer: Answer) -> None:
    """Answers of the dialect, errors included, follow ``--allow-origin`` like the API;
    reads (``GET``, ``HEAD``: the list, its SSE, ``/subscribe``) of a server without
    tokens are readable by a page of any origin: the lobby is public there, and no
    credentials are involved. Writes keep the origin rule (``check_origin``)."""
    if request.path not in PATHS:
        return
    if request.method in READS and not lobby_of(request).node.access.enabled:
        answer.headers.append(("Access-Control-Allow-Origin", "*"))
    else:
        add_origin_headers(request, answer)


def _read_object(request: Request) -> dict[str, Any]:
    """The body as one JSON object, whatever its ``Content-Type``: 413 past ``max_body``."""
    return parse_json_object(request.body)


def _default_user(principal: Principal) -> str:
    """Who posts when a request names nobody: the token's user, else ``anonymous``."""
    return NO_USER if principal.user is not None else ANONYMOUS


def _time_left(principal: Principal) -> float | None:
    if principal.expires is None:
        return None
    return max(0.0, principal.expires - time.time())


async def _commit(request: Request, principal: Principal, publish: Publish) -> Committed:
    return await lobby_of(request).node.publish(principal, publish)
