"""The client across a room's log starting over (epochs), against real servers.

The issue's scenario: a ``--store memory`` server restarted on the same port, and
more messages published in the new log than the client's cursor before the
client is back. Ids alone cannot tell (cursor 10 looks current in a log of 20);
the epoch does, on every transport.
"""

from __future__ import annotations

import pytest

from hubbub.client import Client, Disconnected, Gap, Message, TransportChoice
from hubbub.server import Server
from tests.conftest import StartServer
from tests.gate import Gate
from tests.test_client import EVERY, follow, quick_client

OLD, NEW = 10, 20


async def fill(url: str, count: int, prefix: str) -> tuple[list[Message], str]:
    """Publish ``count`` messages to room r; them and the room's epoch."""
    async with quick_client(url) as client:
        sent = [await client.publish("r", "a", f"{prefix}{i}") for i in range(count)]
        epoch = (await client.history("r")).epoch
    assert epoch is not None
    return sent, epoch


async def restart_with(start_server: StartServer, server: Server) -> tuple[list[Message], str]:
    """Stop ``server`` and start a new memory server on its port holding NEW messages."""
    await server.stop()
    restarted = await start_server(store="memory", port=server.port)
    return await fill(restarted.url, NEW, "new")


@pytest.mark.parametrize("transport", EVERY)
async def test_reset_past_the_cursor_is_a_gap_then_the_new_log(
    start_server: StartServer, transport: TransportChoice
) -> None:
    """Cursor 10, restart, 20 new messages before the client is back: reset Gap, then 1..20."""
    server = await start_server(store="memory")
    async with (
        Gate(server.port) as gate,
        quick_client(gate.url) as client,
        follow(client, "r", 0, transport) as follower,
    ):
        old, old_epoch = await fill(server.url, OLD, "old")
        await follower.until(lambda: len(follower.ids) == OLD)
        assert follower.events == old
        assert (follower.sub.cursor, follower.sub.epoch) == (OLD, old_epoch)

        gate.shut()  # the client cannot come back until the new log is longer than its cursor
        await follower.until(lambda: follower.count(Disconnected) >= 1)
        new, new_epoch = await restart_with(start_server, server)
        assert new_epoch != old_epoch
        gate.open()

        await follower.until(lambda: len(follower.ids) == OLD + NEW)
        assert follower.events[OLD] == Gap(OLD, 1, NEW, reset=True, epoch=new_epoch)
        assert follower.events[OLD + 1 :] == new
        assert (follower.sub.cursor, follower.sub.epoch) == (NEW, new_epoch)


@pytest.mark.parametrize("transport", EVERY)
async def test_a_kept_cursor_and_epoch_resume_across_a_reset(
    start_server: StartServer, transport: TransportChoice
) -> None:
    """subscribe(since=10, epoch=old) after the restart: a reset Gap, then the new log."""
    server = await start_server(store="memory")
    _, old_epoch = await fill(server.url, OLD, "old")
    new, new_epoch = await restart_with(start_server, server)
    async with (
        quick_client(server.url) as client,
        follow(client, "r", OLD, transport, epoch=old_epoch) as follower,
    ):
        await follower.until(lambda: len(follower.ids) == NEW)
        assert follower.events == [Gap(OLD, 1, NEW, reset=True, epoch=new_epoch), *new]


@pytest.mark.parametrize("transport", EVERY)
async def test_the_same_epoch_resumes_without_a_gap(
    start_server: StartServer, transport: TransportChoice
) -> None:
    """A cursor and the room's own epoch: exactly what follows, no gap."""
    server = await start_server(store="memory")
    sent, epoch = await fill(server.url, 3, "m")
    async with (
        quick_client(server.url) as client,
        follow(client, "r", 1, transport, epoch=epoch) as follower,
    ):
        await follower.until(lambda: len(follower.ids) == 2)
        assert follower.events == sent[1:]
        assert follower.sub.epoch == epoch


def test_epoch_arguments_are_checked() -> None:
    """An epoch needs a cursor, and has the protocol's shape."""
    client = Client("http://127.0.0.1:1")
    with pytest.raises(ValueError, match="since"):
        client.subscribe("r", epoch="abc")
    with pytest.raises(ValueError, match="epoch"):
        client.subscribe("r", since=3, epoch="not:an-epoch")
    assert client.subscribe("r", since=3, epoch="k3j9x2a1").epoch == "k3j9x2a1"


async def test_history_names_the_epoch(server: Server) -> None:
    """A read's Page carries the room's epoch, even for an empty room, and it stays put."""
    async with quick_client(server.url) as client:
        empty = await client.history("r")
        await client.publish("r", "a", "hi")
        assert empty.epoch is not None and (await client.history("r")).epoch == empty.epoch
