"""Room fan-out over real socket pairs: shared writes, join mid-iteration, slow consumers."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from hubbub.broker import MemoryBroker
from hubbub.hub import FlushScheduler, Hub, Outbox, Room, Stream
from hubbub.principal import ANONYMOUS
from hubbub.protocol.encoding import WS, EncodedMessage
from hubbub.protocol.messages import Message
from hubbub.stats import Stats
from hubbub.store import MemoryStore


def message(id_: int, text: str = "hi", epoch: str = "") -> EncodedMessage:
    return EncodedMessage(Message(id_, "r", "u", text, 0), epoch)


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


async def started_hub() -> tuple[Hub, Room]:
    """A hub over an empty memory store, with room ``r`` loaded."""
    store = MemoryStore()
    hub = Hub(store, MemoryBroker(), Stats(), retain=None, room_idle=30.0)
    hub.start(asyncio.get_running_loop())
    room = await hub.acquire("r")
    return hub, room


def stream(
    transport: asyncio.Transport, scheduler: FlushScheduler, on_overflow: Callable[[], None]
) -> Stream:
    outbox = Outbox(transport, scheduler, limit=1 << 20, on_overflow=on_overflow)
    return Stream("r", WS, outbox, ANONYMOUS, 0.0)


def scheduler_of(hub: Hub) -> FlushScheduler:
    assert hub.scheduler is not None
    return hub.scheduler


async def test_live_streams_get_one_write_of_all_frames() -> None:
    """Frames fanned out in one iteration reach every live stream in order."""
    hub, room = await started_hub()
    async with socket_pair() as (t1, s1), socket_pair() as (t2, s2):
        room.join(stream(t1, scheduler_of(hub), lambda: None))
        room.join(stream(t2, scheduler_of(hub), lambda: None))
        batch = [message(1, epoch=room.bounds.epoch) for _ in range(1)]
        batch += [message(2, epoch=room.bounds.epoch), message(3, epoch=room.bounds.epoch)]
        assert hub.apply("r", room.bounds.epoch, batch) == 6
        expected = b"".join(m.ws for m in batch)
        await flushed()
        assert await received(s1, len(expected)) == expected
        assert await received(s2, len(expected)) == expected


async def test_stream_joining_mid_iteration_gets_no_duplicate() -> None:
    """A stream that caught up on message 1 and joined before the flush gets only 2."""
    hub, room = await started_hub()
    epoch = room.bounds.epoch
    async with socket_pair() as (t1, s1), socket_pair() as (t2, s2):
        room.join(stream(t1, scheduler_of(hub), lambda: None))
        first, second = message(1, epoch=epoch), message(2, epoch=epoch)
        hub.apply("r", epoch, [first])
        late = stream(t2, scheduler_of(hub), lambda: None)
        late.outbox.push(first.ws)  # its catch-up read message 1
        late.outbox.flush(0.0)
        room.join(late)
        hub.apply("r", epoch, [second])
        await flushed()
        assert await received(s1, len(first.ws + second.ws)) == first.ws + second.ws
        assert await received(s2, len(first.ws + second.ws)) == first.ws + second.ws


async def test_acks_follow_the_room_frames() -> None:
    """A connection's own bytes pushed in the same iteration come after the room's."""
    hub, room = await started_hub()
    epoch = room.bounds.epoch
    async with socket_pair() as (transport, sock):
        live = stream(transport, scheduler_of(hub), lambda: None)
        room.join(live)
        live.outbox.push(b"ACK")
        hub.apply("r", epoch, [message(1, epoch=epoch)])
        await flushed()
        expected = message(1, epoch=epoch).ws + b"ACK"
        assert await received(sock, len(expected)) == expected


async def test_an_ack_follows_its_message_when_the_socket_opens_a_room_meanwhile() -> None:
    """A socket subscribed to ``r`` is acked for a message of ``r`` in the iteration one of
    its other subscriptions goes live: the subscription's opening frames go out before
    the rooms' frames (``mark_first``), the ack after them, so it still follows its
    message (protocol.md: the message arrives, "and this socket then gets its ack")."""
    hub, room = await started_hub()
    epoch = room.bounds.epoch
    scheduler = scheduler_of(hub)
    async with socket_pair() as (transport, sock):
        live = stream(transport, scheduler, lambda: None)
        room.join(live)
        sent = message(1, epoch=epoch)
        hub.apply("r", epoch, [sent])
        live.outbox.push_after(b"ACK")
        live.outbox.push(b"READY-OTHER")  # another room's opening frames, then first
        scheduler.mark_first(live.outbox)
        await flushed()
        expected = b"READY-OTHER" + sent.ws + b"ACK"
        assert await received(sock, len(expected)) == expected
        live.outbox.push_after(b"ACK2")  # alone, it is written in the next flush
        await flushed()
        assert await received(sock, 4) == b"ACK2"


async def test_subscriber_that_does_not_read_overflows() -> None:
    """Past the limit (its own buffer, not the kernel's) a subscriber is closed."""
    hub, room = await started_hub()
    epoch = room.bounds.epoch
    dropped = asyncio.Event()
    async with socket_pair() as (transport, _):
        live = stream(transport, scheduler_of(hub), dropped.set)
        live.outbox.limit = 64 * 1024
        room.join(live)
        big = "x" * 50_000
        for id_ in range(1, 400):  # 20 MB: more than any socket pair buffers
            hub.apply("r", epoch, [message(id_, big, epoch)])
            await flushed()
            if dropped.is_set():
                break
        assert dropped.is_set() and live.outbox.closed


async def test_a_room_counts_its_live_streams_as_they_join_and_leave() -> None:
    """``Room.live`` is kept as streams join and leave (read for every room each second),
    a second join or leave of the same stream counting nothing."""
    hub, room = await started_hub()
    async with socket_pair() as (t1, _s1), socket_pair() as (t2, _s2):
        one, two = (
            stream(t1, scheduler_of(hub), lambda: None),
            stream(t2, scheduler_of(hub), lambda: None),
        )
        room.join(one)
        room.join(two)
        room.join(one)
        assert room.live() == 2
        assert room.leave(one) and not room.leave(one)
        assert room.live() == 1
        assert room.leave(two)
        assert room.live() == 0
