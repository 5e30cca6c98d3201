"""WebSocket liveness on the event loop's millisecond clock: one ping, then the cut.

The heartbeat task ticks every quarter heartbeat with ``loop.time()``, which libuv counts
in whole milliseconds, so a tick often lands exactly two heartbeats after the peer's last
frame. A silent peer must be cut there, not pinged a second time.
"""

from __future__ import annotations

import asyncio
import socket

import pytest

from hubbub.hub import FlushScheduler, Outbox
from hubbub.principal import ANONYMOUS
from hubbub.protocol.encoding import WS, WS_PING_FRAME
from hubbub.transports.websocket import SocketStream, peer_silent

HEARTBEAT = 5.0


def test_silent_for_two_heartbeats_to_the_millisecond_is_cut() -> None:
    assert peer_silent(1010.0, 1000.0, HEARTBEAT)
    # 1000.1 + 10 in floating point: a hair under or over 10 must not decide.
    assert peer_silent(1010.1, 1000.1, HEARTBEAT)
    assert peer_silent(0.3, 0.1 + 0.2 - 10.0, HEARTBEAT)


def test_a_peer_heard_within_two_heartbeats_is_kept() -> None:
    assert not peer_silent(1009.998, 1000.0, HEARTBEAT)
    assert not peer_silent(1005.0, 1000.0, HEARTBEAT)
    assert not peer_silent(1000.0, 1000.0, HEARTBEAT)


@pytest.mark.parametrize("start", [1000.0, 1000.1, 123456.789, 0.0])
async def test_a_silent_peer_gets_one_ping_then_the_cut(start: float) -> None:
    """Ticks every quarter heartbeat from the stream's start, on a millisecond grid,
    as the heartbeat task makes them when its timers fire on time."""
    ours, theirs = socket.socketpair()
    loop = asyncio.get_running_loop()
    transport, _ = await loop.connect_accepted_socket(asyncio.Protocol, ours)
    try:
        outbox = Outbox(transport, FlushScheduler(loop), limit=1 << 20, on_overflow=lambda: None)
        stream = SocketStream("r", WS, outbox, ANONYMOUS, start)
        tick = 0
        while not stream.ended:
            tick += 1
            assert tick <= 12, "a silent peer outlived three heartbeats"
            stream.tick(round(start + tick * HEARTBEAT / 4, 3), HEARTBEAT)
        assert stream.reason == "timeout"
        assert tick == 8  # exactly two heartbeats
        await asyncio.sleep(0)  # the outbox's once-per-iteration flush
        theirs.setblocking(False)
        async with asyncio.timeout(5):
            written = await loop.sock_recv(theirs, 1024)
        assert written == WS_PING_FRAME  # one ping, no second
    finally:
        transport.abort()
        theirs.close()
