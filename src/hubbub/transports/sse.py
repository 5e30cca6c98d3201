"""Server-Sent Events: a stream of ``id:``/``event:``/``data:`` events from a cursor.

After the headers, the body is written straight to the transport through the
subscriber's outbox (HTTP/1.1 chunked framing added per flush), so a flush of
many events is one write.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from hubbub.hub import Subscriber
from hubbub.outbox import Outbox
from hubbub.protocol.cursors import parse_cursor
from hubbub.protocol.encoding import SSE_PREAMBLE
from hubbub.transports.http import node_of
from hubbub.transports.streams import drainer, hold_open

SSE_HEADERS = {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-store",
    # Tells nginx-style proxies not to buffer the stream.
    "X-Accel-Buffering": "no",
}


def sse_cursor(request: web.Request) -> int | None:
    """``Last-Event-ID`` (sent by a reconnecting EventSource) wins over ``?since=``."""
    header = request.headers.get("Last-Event-ID", "").strip()
    if header:
        return parse_cursor(header, "Last-Event-ID")
    return parse_cursor(request.query.get("since"))


async def sse_stream(request: web.Request, room: str) -> web.StreamResponse:
    node = node_of(request)
    cursor = sse_cursor(request)  # validated before any byte of the answer
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
        sub.end("slow")

    outbox = Outbox(
        transport,
        node.scheduler,
        limit=node.settings.outbox_limit,
        on_overflow=overflow,
        chunked=chunked,
    )
    sub = Subscriber(room, "sse", outbox, loop.time())
    outbox.push(SSE_PREAMBLE)
    await hold_open(node, sub, cursor, drainer(request, node.settings.heartbeat))
    return response
