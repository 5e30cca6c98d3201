"""Short poll (a plain read) and long poll (a read that may wait)."""

from __future__ import annotations

from aiohttp import web

from hubbub.protocol.cursors import ReadQuery
from hubbub.transports.http import json_response, node_of


async def short_poll(request: web.Request, room: str, query: ReadQuery) -> web.Response:
    """``since``: oldest first from the cursor; ``before`` or neither: the newest ``limit``."""
    node = node_of(request)
    if query.since is None:
        body = await node.poll_before(room, query.before, query.limit)
    else:
        start = node.start_of(room, query.since)
        body = await node.poll_after(room, start.cursor, query.limit)
    return json_response(body, no_store=True)


async def long_poll(request: web.Request, room: str, query: ReadQuery) -> web.Response:
    """Answer at once when messages exist after the cursor, else hold up to ``wait``."""
    assert query.wait is not None
    node = node_of(request)
    body = await node.long_poll(room, query.since, query.limit, query.wait)
    return json_response(body, no_store=True)
