"""Room fan-out over real socket pairs: shared writes, join mid-iteration, slow consumers."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from hubbub.hub import Hub, Subscriber
from hubbub.outbox import FlushScheduler, Outbox
from hubbub.protocol.encoding import EncodedMessage
from hubbub.protocol.messages import Message


def message(id_: int, text: str = "hi") -> EncodedMessage:
    return EncodedMessage(Message(id_, "r", "u", text, 0))


@asynccontextmanager
async def socket_pair() -> AsyncIterator[tuple[asyncio.Transport, socket.socket]]:
    """A server-side transport and the raw client socket that reads what it writes."""
    ours, theirs = socket.socketpair()
    theirs.setblocking(False)
    transport, _ = await asyncio.get_running_loop().connect_accepted_socket(asyncio.Protocol, ours)
    try:
        yield transport, theirs
    finally:
        transport.abort()
        theirs.close()


async def received(sock: socket.socket, size: int) -> bytes:
    """Exactly ``size`` bytes from ``sock`` (bounded wait)."""
    data = b""
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(5):
        while len(data) < size:
            data += await loop.sock_recv(sock, size - len(data))
    return data


async def flushed() -> None:
    """Let the once-per-iteration flush callback (scheduled with call_soon) run."""
    await asyncio.sleep(0)


def subscriber(
    transport: asyncio.Transport, scheduler: FlushScheduler, on_overflow: Callable[[], None]
) -> Subscriber:
    outbox = Outbox(transport, scheduler, limit=1 << 20, on_overflow=on_overflow)
    return Subscriber("r", "ws", outbox, 0.0)


async def test_live_streams_get_one_write_of_all_frames() -> None:
    """Frames fanned out in one iteration reach every live stream in order."""
    scheduler = FlushScheduler(asyncio.get_running_loop())
    hub = Hub(retain=None, scheduler=scheduler)
    async with socket_pair() as (t1, s1), socket_pair() as (t2, s2):
        hub.go_live(subscriber(t1, scheduler, lambda: None))
        hub.go_live(subscriber(t2, scheduler, lambda: None))
        batch = [message(1), message(2), message(3)]
        assert hub.deliver(batch) == 6
        expected = b"".join(m.ws for m in batch)
        await flushed()
        assert await received(s1, len(expected)) == expected
        assert await received(s2, len(expected)) == expected


async def test_stream_joining_mid_iteration_gets_no_duplicate() -> None:
    """A stream that caught up on message 1 and joined before the flush gets only 2."""
    scheduler = FlushScheduler(asyncio.get_running_loop())
    hub = Hub(retain=None, scheduler=scheduler)
    async with socket_pair() as (t1, s1), socket_pair() as (t2, s2):
        early = subscriber(t1, scheduler, lambda: None)
        hub.go_live(early)
        first, second = message(1), message(2)
        hub.deliver([first])
        late = subscriber(t2, scheduler, lambda: None)
        late.outbox.push(first.ws)  # its catch-up read message 1
        late.outbox.flush(0.0)
        hub.go_live(late)
        hub.deliver([second])
        await flushed()
        assert await received(s1, len(first.ws + second.ws)) == first.ws + second.ws
        assert await received(s2, len(first.ws + second.ws)) == first.ws + second.ws


async def test_acks_follow_the_room_frames() -> None:
    """A connection's own bytes pushed in the same iteration come after the room's."""
    scheduler = FlushScheduler(asyncio.get_running_loop())
    hub = Hub(retain=None, scheduler=scheduler)
    async with socket_pair() as (transport, sock):
        sub = subscriber(transport, scheduler, lambda: None)
        hub.go_live(sub)
        sub.outbox.push(b"ACK")
        hub.deliver([message(1)])
        await flushed()
        expected = message(1).ws + b"ACK"
        assert await received(sock, len(expected)) == expected


async def test_subscriber_that_does_not_read_overflows() -> None:
    """Past the limit (its own buffer, not the kernel's) a subscriber is closed."""
    scheduler = FlushScheduler(asyncio.get_running_loop())
    hub = Hub(retain=None, scheduler=scheduler)
    dropped = asyncio.Event()
    async with socket_pair() as (transport, _):
        sub = subscriber(transport, scheduler, dropped.set)
        sub.outbox.limit = 64 * 1024
        hub.go_live(sub)
        big = "x" * 50_000
        for id_ in range(1, 400):  # 20 MB: more than any socket pair buffers
            hub.deliver([message(id_, big)])
            await flushed()
            if dropped.is_set():
                break
        assert dropped.is_set() and sub.outbox.closed
