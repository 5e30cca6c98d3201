"""Presence changes may wait for the room's next flush (``FlushScheduler.LATER``, 50 ms
at most): a reconnect storm's joins of a group reach each member in one write instead
of one per loop iteration with a join (issue 19), and a message that comes meanwhile
takes them along, in their place before it."""

from __future__ import annotations

import asyncio

from hubbub.hub import Outbox, Stream
from hubbub.hub.outbox import LATER
from hubbub.principal import ANONYMOUS
from hubbub.protocol.encoding import WS, EncodedMessage
from hubbub.protocol.messages import Message
from tests.test_fanout import socket_pair
from tests.test_stream_open import Opened, frames_from


async def test_joins_of_several_iterations_go_out_in_one_write_within_later() -> None:
    opened = Opened()
    room = await opened.hub.acquire("g")
    async with socket_pair() as (transport, sock):
        outbox = Outbox(transport, opened.scheduler, limit=1 << 20, on_overflow=lambda: None)
        room.join(Stream("g", WS, outbox, ANONYMOUS, 0.0))
        for user in ("a", "b", "c"):  # each in a loop iteration of its own
            opened.hub.broadcast("g", "presence", {"joined": [user], "left": []}, later=True)
            await asyncio.sleep(0)
        assert outbox.sent == 0  # nothing yet: they wait for each other
        frames = await frames_from(sock, 3)
        assert [f["joined"] for f in frames] == [["a"], ["b"], ["c"]]


async def test_a_message_takes_the_waiting_presence_along_in_order() -> None:
    opened = Opened()
    room = await opened.hub.acquire("g")
    async with socket_pair() as (transport, sock):
        outbox = Outbox(transport, opened.scheduler, limit=1 << 20, on_overflow=lambda: None)
        room.join(Stream("g", WS, outbox, ANONYMOUS, 0.0))
        opened.hub.broadcast("g", "presence", {"joined": ["a"], "left": []}, later=True)
        await asyncio.sleep(0)
        epoch = room.bounds.epoch
        opened.hub.apply("g", epoch, [EncodedMessage(Message(1, "g", "u", "hi", 0), epoch)])
        for _ in range(3):  # the message's flush, long before LATER
            await asyncio.sleep(0)
        sent = outbox.sent
        assert sent > 0
        frames = await frames_from(sock, 2)
        assert [f["type"] for f in frames] == ["presence", "message"]
        await asyncio.sleep(2 * LATER)
        assert outbox.sent == sent  # nothing more when the wait ends
