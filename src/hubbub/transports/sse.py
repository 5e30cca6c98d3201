"""Server-Sent Events: a stream of ``id:``/``event:``/``data:`` events from a cursor.

After the headers, the body is written straight to the transport through the
stream's outbox (HTTP/1.1 chunked framing added per flush), so a flush of
many events is one write.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from aiohttp import web

from hubbub.hub import Outbox, Stream
from hubbub.protocol.cursors import Cursor, parse_cursor, parse_last_event_id
from hubbub.protocol.encoding import SSE, SSE_DISCONNECTED, SSE_EXPIRED, SSE_PING, SSE_RETRY
from hubbub.transports.chat import presence_user
from hubbub.transports.http import OUTBOX, node_of, principal_of
from hubbub.transports.streams import drainer

SSE_HEADERS = {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-store",
    # Tells nginx-style proxies not to buffer the stream.
    "X-Accel-Buffering": "no",
}


class EventStream(Stream):
    """An SSE stream: a comment line keeps an idle stream (and its proxies) open."""

    __slots__ = ()

    def end(self, reason: str) -> None:
        if reason == "expired" and not self.done.done():
            # Said before the stream ends, so the client knows to get a fresh token.
            self.outbox.push(SSE_EXPIRED)
        elif reason == "disconnected" and not self.done.done():
            # With a retry long enough that EventSource does not come straight back.
            self.outbox.push(SSE_DISCONNECTED)
        super().end(reason)

    def tick(self, now: float, interval: float) -> None:
        if now - max(self.outbox.last_write, self.last_ping) >= interval:
            self.last_ping = now
            self.outbox.push(SSE_PING)


def sse_cursor(request: web.Request) -> Cursor | None:
    return stream_cursor(request.headers.get("Last-Event-ID"), request.query)


def stream_cursor(last_event_id: str | None, query: Mapping[str, str]) -> Cursor | None:
    """``Last-Event-ID`` (sent by a reconnecting EventSource) wins over ``?since=``."""
    header = (last_event_id or "").strip()
    if header:
        return parse_last_event_id(header)
    return parse_cursor(query)


async def sse_stream(request: web.Request, room: str) -> web.StreamResponse:
    node = node_of(request)
    cursor = sse_cursor(request)  # validated before any byte of the answer
    user = presence_user(request)
    principal = principal_of(request)
    node.check_stream(principal, room)
    if request.method == "HEAD":
        # The headers a GET would get, and no body: a HEAD answer must end here.
        return web.Response(headers=SSE_HEADERS)
    response = web.StreamResponse(headers=SSE_HEADERS)
    chunked = request.version >= (1, 1)
    if chunked:
        response.enable_chunked_encoding()
    await response.prepare(request)
    transport = request.transport
    if transport is None or transport.is_closing():
        return response
    loop = asyncio.get_running_loop()

    def overflow() -> None:
        # A slow consumer: end the stream now; EventSource reconnects with its cursor.
        node.stats.slow_consumers_dropped += 1
        transport.abort()
        stream.end("slow")

    outbox = Outbox(
        transport,
        node.scheduler,
        limit=node.settings.outbox_limit,
        on_overflow=overflow,
        chunked=chunked,
    )
    request[OUTBOX] = outbox  # its bytes, for the access log
    stream = EventStream(room, SSE, outbox, principal, loop.time())
    stream.user = user
    # The first event (gap or ready) completes this block: never a block of retry alone.
    outbox.push(SSE_RETRY)
    await node.run_stream(stream, cursor, drainer(request, node.settings.heartbeat))
    return response
