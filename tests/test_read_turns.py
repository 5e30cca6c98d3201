"""Turns for reading (http/turns.py): the reads of one loop iteration take a bounded
time; connections that read after it are served in later iterations, in order, with
every byte they sent (issue 19: a reconnect storm served 780 reads in one 45 ms
iteration). The server tests run with no budget at all, so every read but the first of
an iteration waits for a turn."""

from __future__ import annotations

import asyncio
import json

import orjson
import pytest

from hubbub.http.connection import FrontConnection
from hubbub.http.turns import ReadTurns
from hubbub.server import Server
from tests.rawhttp import RawClient, poll, publish
from tests.rawws import frame, open_raw, read_frame

CLIENTS = 20


class Reader:
    def __init__(self, name: str, served: list[str]) -> None:
        self.name = name
        self.served = served

    def read_turn(self) -> None:
        self.served.append(self.name)


async def test_reads_past_the_budget_wait_in_order_one_turn_an_iteration() -> None:
    turns = ReadTurns(asyncio.get_running_loop(), budget=0.0)
    served: list[str] = []
    assert turns.take()  # the iteration's first read is always served
    assert not turns.take()
    for name in ("a", "b", "c"):
        turns.wait(Reader(name, served))
    await asyncio.sleep(0)
    assert served == ["a"]  # with no budget, one reader a turn
    assert not turns.take()  # newcomers go behind those waiting
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert served == ["a", "b", "c"] and turns.waiting() == 0
    await asyncio.sleep(0)
    assert turns.take()  # nothing waits: reads are served at once again


async def test_a_budget_serves_several_readers_a_turn() -> None:
    turns = ReadTurns(asyncio.get_running_loop(), budget=10.0)
    served: list[str] = []
    turns.wait(Reader("a", served))
    turns.wait(Reader("b", served))
    await asyncio.sleep(0)
    assert served == ["a", "b"]


@pytest.fixture
def turns_served(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many connections were served in a turn (the real method, counted)."""
    served: list[int] = []
    read_turn = FrontConnection.read_turn

    def counted(self: FrontConnection) -> None:
        served.append(1)
        read_turn(self)

    monkeypatch.setattr(FrontConnection, "read_turn", counted)
    return served


async def test_pipelined_requests_of_many_connections_all_answered_in_order(
    server: Server, turns_served: list[int]
) -> None:
    assert server.front is not None
    server.front.turns.budget = 0.0
    clients = [await RawClient.open(server.port) for _ in range(CLIENTS)]
    for i, client in enumerate(clients):
        client.send(publish("turns", f"{i}-a"), publish("turns", f"{i}-b"), poll("turns"))
    for i, client in enumerate(clients):
        first, second, polled = await client.answers(3)
        assert (first.status, second.status, polled.status) == (201, 201, 200)
        assert first.json()["id"] < second.json()["id"]
        texts = [m["text"] for m in polled.json()["messages"]]
        assert texts.index(f"{i}-a") < texts.index(f"{i}-b")
        client.close()
    assert turns_served  # some waited for a turn


async def test_a_request_followed_by_the_end_of_its_stream_is_still_served(
    server: Server, turns_served: list[int]
) -> None:
    """A client that sends a publish and closes its side at once: the publish waiting for
    its turn is served when the end comes, not dropped with the connection."""
    assert server.front is not None
    server.front.turns.budget = 0.0
    busy = [await RawClient.open(server.port) for _ in range(CLIENTS)]
    leaving = await RawClient.open(server.port)
    for client in busy:
        client.send(poll("elsewhere"))
    leaving.send(publish("eof", "sent before the end"))
    leaving.writer.write_eof()
    for client in busy:
        assert (await client.answer()).status == 200
        client.close()
    reader = await RawClient.open(server.port)
    async with asyncio.timeout(10):
        while True:
            reader.send(poll("eof"))
            messages = (await reader.answer()).json()["messages"]
            if messages:
                break
            await asyncio.sleep(0.05)
    assert [m["text"] for m in messages] == ["sent before the end"]
    reader.close()
    leaving.close()


async def test_websocket_upgrades_with_their_frames_all_get_ready(
    server: Server, turns_served: list[int]
) -> None:
    """Upgrades whose subscribe frames come in the same write, many at once: each socket
    gets its ready frames, whichever read waited for a turn."""
    assert server.front is not None
    server.front.turns.budget = 0.0
    sockets = []
    for i in range(CLIENTS):
        reader, writer, head = await open_raw(server.port, f"/ws?user=u{i}")
        assert b" 101 " in head
        sockets.append((reader, writer))
    for i, (_reader, writer) in enumerate(sockets):
        frames = [
            frame(1, orjson.dumps({"type": "subscribe", "room": room})) for room in (f"p{i}", "g")
        ]
        writer.write(b"".join(frames))
    for i, (reader, writer) in enumerate(sockets):
        ready: list[str] = []
        while len(ready) < 2:
            opcode, payload = await read_frame(reader)
            body = json.loads(payload)
            if opcode == 1 and body["type"] == "ready":
                ready.append(body["room"])
        assert sorted(ready) == ["g", f"p{i}"]  # rooms get ready in any order
        writer.close()
    assert turns_served
