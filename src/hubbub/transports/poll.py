"""Short poll (a plain read) and long poll (a read that may wait)."""

from __future__ import annotations

from hubbub.http.answers import Answer
from hubbub.http.head import Request
from hubbub.protocol.cursors import ReadQuery
from hubbub.transports.chat import presence_user
from hubbub.transports.http import json_response, node_of, principal_of


async def poll(request: Request, room: str, query: ReadQuery) -> Answer:
    """``since``: oldest first from the cursor; ``before`` or neither: the newest ``limit``;
    with ``wait``: held until something is newer than the cursor."""
    user = presence_user(request) if query.wait is not None else None
    body = await node_of(request).poll(principal_of(request), room, query, user)
    return json_response(body, no_store=True)
