"""The operations page: ``GET /admin`` (its shell, open to all) and ``GET /admin/stream``
(its data, an SSE stream open only to admins, see ``admin_access.py``).

The stream starts with ``event: history`` (the last 15 minutes of every node) and then
sends ``event: update`` once a second, the same bytes to every viewer (``recorder.py``).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from hubbub.admin_access import admin_allowed
from hubbub.errors import Forbidden
from hubbub.http.head import Request
from hubbub.http.streaming import BodyWriter, Streamed
from hubbub.principal import Principal
from hubbub.transports.http import node_of, principal_of
from hubbub.transports.sse import sse_streamed

ADMIN_PAGE = Path(__file__).parent.parent / "static" / "admin.html"

# A proxy on this machine makes every client look local: a request that came through one
# (it says so in these headers) is never taken as local, whatever its peer address.
FORWARDED = ("forwarded", "x-forwarded-for", "x-real-ip")


def peer_address(request: Request) -> str:
    """The address :func:`admin_allowed` judges: the peer's, unless a proxy forwarded it."""
    if any(name in request.headers for name in FORWARDED):
        return "forwarded"
    return request.peer


def check_admin(request: Request) -> Principal:
    """The request's principal if it may use the admin routes; else 401 (no or a bad
    token, from ``principal_of``) or 403."""
    node = node_of(request)
    principal = principal_of(request)
    tokens_required = node.access.enabled
    if admin_allowed(principal, peer_address(request), tokens_required):
        return principal
    if tokens_required:
        raise Forbidden("the admin routes need a token with the admin claim")
    raise Forbidden("on a server without tokens, the admin routes answer only this machine")


def sse_event(name: bytes, data: bytes) -> bytes:
    return b"event: " + name + b"\ndata: " + data + b"\n\n"


def admin_stream(request: Request) -> Streamed:
    check_admin(request)
    recorder = node_of(request).recorder
    heartbeat = node_of(request).settings.heartbeat

    async def produce(body: BodyWriter) -> None:
        body.write(sse_event(b"history", recorder.history()))
        next_update = asyncio.ensure_future(recorder.next_update())
        try:
            while True:
                async with asyncio.timeout(2 * heartbeat):
                    await body.drain()  # a viewer that stops reading is dropped
                done, _ = await asyncio.wait({next_update}, timeout=heartbeat)
                if not done:
                    body.write(b": ping\n\n")
                    continue
                update = next_update.result()
                if not update:
                    break  # shutting down
                next_update = asyncio.ensure_future(recorder.next_update())
                body.write(sse_event(b"update", update))
        finally:
            next_update.cancel()

    return sse_streamed(produce)
