"""The two streaming views of GET /messages: WebSocket frames and the SSE list.

The WebSocket view is a log: every lobby message is one frame, queued on a
bounded :class:`~hubbub.outbox.Outbox` exactly like the protocol's own sockets,
with the same slow-consumer rule. The SSE view is a snapshot: each event is the
whole list, so a newer one makes any unsent older one worthless. It keeps no
queue at all; a reader that falls behind gets only the newest list once it
catches up, and one that stops reading for two heartbeats is dropped.
"""

from __future__ import annotations

import asyncio

from aiohttp import WSCloseCode, web

from hubbub.compat.lobby import ListStream, Socket, TutorialLobby
from hubbub.outbox import Outbox
from hubbub.protocol.encoding import SSE_PING
from hubbub.transports.sse import SSE_HEADERS
from hubbub.transports.websocket import accept_websocket, close_slow_consumer


async def frame_stream(request: web.Request, lobby: TutorialLobby) -> web.WebSocketResponse:
    """``Upgrade: websocket``: one ``{"id", "text", "username"}`` frame per new message."""
    node = lobby.node
    settings = node.settings
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
        lobby.sockets.discard(socket)
        close_slow_consumer(transport)

    def going_away() -> None:
        outbox.close()  # no frame may follow the close frame
        closing.append(loop.create_task(ws.close(code=WSCloseCode.GOING_AWAY)))

    outbox = Outbox(transport, node.scheduler, limit=settings.outbox_limit, on_overflow=overflow)
    socket = Socket(outbox, going_away)
    lobby.sockets.add(socket)
    node.stats.count_stream("ws", +1)
    if lobby.closing:
        going_away()  # opened while the server was already shutting down
    try:
        async for _ in ws:
            pass  # the tutorial's client only listens; whatever it sends is ignored
    finally:
        lobby.sockets.discard(socket)
        outbox.close()
        node.stats.count_stream("ws", -1)
        for task in closing:
            await task
    return ws


async def list_stream(request: web.Request, lobby: TutorialLobby) -> web.StreamResponse:
    """``Accept: text/event-stream``: the newest list at connect and after each change."""
    node = lobby.node
    heartbeat = node.settings.heartbeat
    owner = request.query.get("id", "").strip() or None
    response = web.StreamResponse(headers=SSE_HEADERS)
    await response.prepare(request)
    stream = ListStream(owner)
    stream.wake.set()  # the list as it is now, first
    lobby.lists.add(stream)
    node.stats.count_stream("sse", +1)
    try:
        while (event := await _next_event(stream, lobby, heartbeat)) is not None:
            # aiohttp waits here while the peer's buffer is full; a peer that
            # does not read for two heartbeats is a slow consumer.
            async with asyncio.timeout(2 * heartbeat):
                await response.write(event)
            if event is not SSE_PING:
                node.stats.delivered += 1
    except TimeoutError:
        node.stats.slow_consumers_dropped += 1
        if request.transport is not None:
            request.transport.abort()
    except ConnectionError:
        pass  # gone while we wrote
    finally:
        lobby.lists.discard(stream)
        node.stats.count_stream("sse", -1)
    return response


async def _next_event(stream: ListStream, lobby: TutorialLobby, heartbeat: float) -> bytes | None:
    """The newest list once woken, ``: ping`` after a quiet heartbeat, None at shutdown."""
    try:
        async with asyncio.timeout(heartbeat):
            await stream.wake.wait()
    except TimeoutError:
        return SSE_PING
    stream.wake.clear()
    return None if lobby.closing else lobby.list_event()
