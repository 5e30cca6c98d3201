"""The two streaming views of GET /messages: WebSocket frames and the SSE list.

The WebSocket view is a log: every lobby message is one frame, written by the
room's fan-out like the protocol's own sockets, with the same outbox and
slow-consumer rule. The SSE view is a snapshot: each event is the whole list,
so a newer one makes any unsent older one worthless. It keeps no queue at all;
a reader that falls behind gets only the newest list once it catches up, and
one that stops reading for two heartbeats is dropped.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

from aiohttp import WSCloseCode, web

from hubbub.compat.lobby import TUTORIAL_FRAMES, TutorialLobby
from hubbub.hub import Outbox, Stream
from hubbub.principal import ANONYMOUS, Principal
from hubbub.protocol.encoding import SSE_EXPIRED, SSE_PING
from hubbub.transports.http import OUTBOX, client_address_of, node_of, principal_of
from hubbub.transports.sse import SSE_HEADERS
from hubbub.transports.streams import drainer
from hubbub.transports.websocket import (
    CLOSE_TOKEN_EXPIRED,
    accept_websocket,
    close_slow_consumer,
)


def lobby_principal(request: web.Request) -> Principal:
    """Who uses the dialect: the request's token, as on every route, unless
    ``--open-lobby`` keeps the dialect's lobby open to everyone."""
    if node_of(request).settings.open_lobby:
        return replace(ANONYMOUS, address=client_address_of(request))
    return principal_of(request)


async def frame_stream(request: web.Request, lobby: TutorialLobby) -> web.WebSocketResponse:
    """``Upgrade: websocket``: one ``{"id", "text", "username"}`` frame per new message."""
    node = lobby.node
    settings = node.settings
    principal = lobby_principal(request)
    node.check_stream(principal, lobby.name)
    # aiohttp pings every heartbeat and drops a peer whose pong does not come.
    ws, transport = await accept_websocket(
        request, settings, autoping=True, heartbeat=settings.heartbeat
    )
    if transport is None:
        return ws
    loop = asyncio.get_running_loop()
    closing: list[asyncio.Task[bool]] = []

    def overflow() -> None:
        # A slow consumer, as on the protocol's own sockets: 1013, then cut.
        node.stats.slow_consumers_dropped += 1
        close_slow_consumer(transport)
        stream.end("slow")

    def on_end(done: asyncio.Future[str]) -> None:
        reason = done.result()
        if reason != "gone":
            outbox.close()  # no frame may follow the close frame
            if reason == "expired":
                close = ws.close(code=CLOSE_TOKEN_EXPIRED, message=b"token expired")
            else:
                close = ws.close(code=WSCloseCode.GOING_AWAY)
            closing.append(loop.create_task(close))

    outbox = Outbox(transport, node.scheduler, limit=settings.outbox_limit, on_overflow=overflow)
    request[OUTBOX] = outbox  # its bytes, for the access log
    stream = Stream(lobby.name, TUTORIAL_FRAMES, outbox, principal, loop.time())
    stream.done.add_done_callback(on_end)
    running = loop.create_task(node.run_stream(stream, None, drainer(request, settings.heartbeat)))
    try:
        async for _ in ws:
            pass  # the tutorial's client only listens; whatever it sends is ignored
    finally:
        stream.end("gone")
        await running
        for task in closing:
            await task
    return ws


async def list_stream(
    request: web.Request, lobby: TutorialLobby, owner: str | None
) -> web.StreamResponse:
    """``Accept: text/event-stream``: the newest list at connect and after each change,
    those of ``owner`` (``?id=``) left out."""
    node = lobby.node
    principal = lobby_principal(request)
    node.check_stream(principal, lobby.name)
    heartbeat = node.settings.heartbeat
    response = web.StreamResponse(headers=SSE_HEADERS)
    if request.method == "HEAD":
        return web.Response(headers=SSE_HEADERS)
    await response.prepare(request)
    token = object()
    lobby.lists.add(token)
    node.stats.count_stream("sse", +1)
    try:
        seen = (await lobby.room()).bounds.last_id
        event = await lobby.list_event()  # the list as it is now, first
        while not lobby.closing:
            # aiohttp waits here while the peer's buffer is full; a peer that
            # does not read for two heartbeats is a slow consumer.
            async with asyncio.timeout(2 * heartbeat):
                await response.write(event)
            if event is not SSE_PING:
                node.stats.delivered += 1
            wait = heartbeat
            if principal.expires is not None:
                wait = max(0.0, min(wait, principal.expires - time.time()))
            seen, changed = await lobby.changed(seen, owner, wait)
            if lobby.closing:
                break
            if principal.expires is not None and time.time() >= principal.expires:
                await response.write(SSE_EXPIRED)  # as on the protocol's own streams
                break
            event = await lobby.list_event() if changed else SSE_PING
    except TimeoutError:
        node.stats.slow_consumers_dropped += 1
        if request.transport is not None:
            request.transport.abort()
    except ConnectionError:
        pass  # gone while we wrote
    finally:
        lobby.lists.discard(token)
        node.stats.count_stream("sse", -1)
    return response
