"""What SSE and WebSocket streams share: draining, and a stream's life from attach to end."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiohttp import web

from hubbub.hub import Subscriber
from hubbub.node import Node


def drainer(request: web.Request, heartbeat: float) -> Callable[[], Awaitable[None]]:
    """Wait until the transport's buffer is below its high-water mark.

    Used only while a stream catches up on history, so a long backlog is
    written at the reader's pace instead of piling up in memory. A reader
    that does not move for two heartbeats is a slow consumer.
    """
    protocol = request.protocol

    async def drain() -> None:
        async with asyncio.timeout(2 * heartbeat):
            # aiohttp's flow control (BaseProtocol): returns at once unless the
            # transport has paused writing because its buffer is full.
            await protocol._drain_helper()

    return drain


async def hold_open(
    node: Node, sub: Subscriber, cursor: int | None, drain: Callable[[], Awaitable[None]]
) -> str:
    """Catch ``sub`` up from ``cursor``, keep it live until it ends, then detach it.

    Returns why the stream ended: ``shutdown``, ``slow``, ``timeout`` or ``gone``.
    """
    try:
        await node.attach(sub, cursor, drain)
        return await sub.done
    except TimeoutError:
        sub.outbox.overflow()  # could not drain during catch-up
        return "slow"
    except ConnectionError:
        return "gone"
    finally:
        # Whatever was queued before the end still goes out (a last message
        # before shutdown), then nothing refers to this subscriber any more.
        sub.outbox.flush(asyncio.get_running_loop().time())
        node.detach(sub)
