"""The SSE view of GET /messages, and who uses the dialect.

The WebSocket view (``compat/socket.py``) is a log: every lobby message is one frame.
The SSE view is a snapshot: each event is the whole list, so a newer one makes any
unsent older one worthless. It keeps no queue at all; a reader that falls behind gets
only the newest list once it catches up, and one that stops reading for two heartbeats
is dropped.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

from hubbub.compat.lobby import TutorialLobby
from hubbub.http.head import Request
from hubbub.http.streaming import BodyWriter, Streamed
from hubbub.principal import ANONYMOUS, Principal
from hubbub.protocol.encoding import SSE_EXPIRED, SSE_PING
from hubbub.transports.http import node_of, principal_of
from hubbub.transports.sse import sse_streamed


def lobby_principal(request: Request) -> Principal:
    """Who uses the dialect: the request's token, as on every route, unless
    ``--open-lobby`` keeps the dialect's lobby open to everyone."""
    if node_of(request).settings.open_lobby:
        return replace(ANONYMOUS, address=request.address)
    return principal_of(request)


def list_stream(request: Request, lobby: TutorialLobby, owner: str | None) -> Streamed:
    """``Accept: text/event-stream``: the newest list at connect and after each change,
    those of ``owner`` (``?id=``) left out."""
    node = lobby.node
    principal = lobby_principal(request)
    node.check_stream(principal, lobby.name)
    heartbeat = node.settings.heartbeat

    async def produce(body: BodyWriter) -> None:
        token = object()
        lobby.lists.add(token)
        node.stats.count_stream("sse", +1)
        try:
            seen = (await lobby.room()).bounds.last_id
            event = await lobby.list_event()  # the list as it is now, first
            while not lobby.closing:
                body.write(event)
                # A peer that does not read for two heartbeats is a slow consumer.
                try:
                    async with asyncio.timeout(2 * heartbeat):
                        await body.drain()
                except TimeoutError:
                    node.stats.slow_consumers_dropped += 1
                    body.abort()
                    return
                if event is not SSE_PING:
                    node.stats.delivered += 1
                wait = heartbeat
                if principal.expires is not None:
                    wait = max(0.0, min(wait, principal.expires - time.time()))
                seen, changed = await lobby.changed(seen, owner, wait)
                if lobby.closing:
                    break
                if principal.expires is not None and time.time() >= principal.expires:
                    body.write(SSE_EXPIRED)  # as on the protocol's own streams
                    break
                event = await lobby.list_event() if changed else SSE_PING
        finally:
            lobby.lists.discard(token)
            node.stats.count_stream("sse", -1)

    return sse_streamed(produce)
