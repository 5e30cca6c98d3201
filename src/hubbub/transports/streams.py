"""What SSE and WebSocket streams share: draining while a stream catches up."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from hubbub.streams import Drain


def timed_drain(writable: Callable[[], Awaitable[None]], heartbeat: float) -> Drain:
    """``writable`` (returns once the transport takes writes again), given two heartbeats.

    Used only while a stream catches up on history, so a long backlog is written at the
    reader's pace instead of piling up in memory. A reader that does not move for two
    heartbeats is a slow consumer."""

    async def drain() -> None:
        async with asyncio.timeout(2 * heartbeat):
            await writable()

    return drain
