"""Clients for multi-node tests: subscribers that resume on another node, publishers that retry.

A :class:`Subscriber` reads one room over one transport, keeps its cursor (epoch, id) as a
client must, and on any end or failure reconnects to the *next* node with that cursor, so
every reconnection also checks that any node serves any client. It records every message
and every gap it is told, so a test can compare sequences exactly.

A :class:`Publisher` publishes numbered messages with a ``client_id`` each over HTTP and
retries a refused or unanswered publish with the same ``client_id`` on the next node, as a
client that never saw its answer must; it records every answer it got.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from tests.wire import SSEReader

TRANSPORTS = ("ws", "sse", "longpoll")
WAIT = 30.0  # bound on every wait for a sequence to complete
RECONNECT = 0.05  # a client's pause before reconnecting (clients back off; tests need not)
NETWORK_ERRORS = (aiohttp.ClientError, OSError, EOFError, TimeoutError, ValueError)


@dataclass
class Subscriber:
    """One client on one transport, following one room across nodes."""

    http: aiohttp.ClientSession
    kind: str
    urls: Sequence[str]
    room: str
    start: int = 0  # index of the node it connects to first
    epoch: str | None = None
    since: int = 0
    # ("message", epoch, id) and ("gap", new epoch, first_id) in the order they were told
    events: list[tuple[str, str, int]] = field(default_factory=list)
    texts: dict[tuple[str, int], str] = field(default_factory=dict)
    connections: int = 0
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None

    def begin(self) -> Subscriber:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def ids(self, epoch: str | None = None) -> list[int]:
        return [i for kind, e, i in self.events if kind == "message" and epoch in (None, e)]

    def gaps(self) -> list[tuple[str, int]]:
        return [(e, i) for kind, e, i in self.events if kind == "gap"]

    async def until(self, epoch: str, last_id: int) -> None:
        """Until this subscriber's cursor reached ``last_id`` in ``epoch`` (bounded)."""
        async with asyncio.timeout(WAIT):
            while not (self.epoch == epoch and self.since >= last_id):
                self._changed.clear()
                await self._changed.wait()

    async def _run(self) -> None:
        node = self.start
        while True:
            url = f"{self.urls[node % len(self.urls)]}/rooms/{self.room}/messages"
            with contextlib.suppress(*NETWORK_ERRORS):
                await self._session(url)
            node += 1
            await asyncio.sleep(RECONNECT)

    def _cursor(self) -> dict[str, str]:
        if self.epoch is None:
            return {"since": str(self.since)}
        return {"since": str(self.since), "epoch": self.epoch}

    def _message(self, message: dict[str, Any]) -> None:
        assert self.epoch is not None
        self.events.append(("message", self.epoch, message["id"]))
        self.texts[(self.epoch, message["id"])] = message["text"]
        self.since = message["id"]
        self._changed.set()

    def _gap(self, epoch: str, first_id: int) -> None:
        self.events.append(("gap", epoch, first_id))

    def _ready(self, frame: dict[str, Any]) -> None:
        self.epoch, self.since = frame["epoch"], frame["since"]
        self._changed.set()

    async def _session(self, url: str) -> None:
        self.connections += 1
        if self.kind == "ws":
            await self._websocket(url)
        elif self.kind == "sse":
            await self._sse(url)
        else:
            await self._long_polls(url)

    async def _websocket(self, url: str) -> None:
        async with self.http.ws_connect(url, params=self._cursor(), heartbeat=None) as ws:
            async for frame in ws:
                if frame.type is not aiohttp.WSMsgType.TEXT:
                    return
                data = orjson.loads(frame.data)
                if data["type"] == "gap":
                    self._gap(data["epoch"], data["first_id"])
                elif data["type"] == "ready":
                    self._ready(data)
                elif data["type"] == "message":
                    self._message(data["message"])

    async def _sse(self, url: str) -> None:
        headers = {"Accept": "text/event-stream"}
        if self.epoch is not None:
            headers["Last-Event-ID"] = f"{self.epoch}:{self.since}"
        params = {} if self.epoch is not None else self._cursor()
        async with self.http.get(url, params=params, headers=headers) as response:
            if response.status != 200:
                return
            reader = SSEReader(response)
            while True:
                event = await reader.next(timeout=WAIT)
                if event.comment is not None and not event.data:
                    continue
                data = event.json()
                if event.event == "gap":
                    self._gap(data["epoch"], data["first_id"])
                elif event.event == "ready":
                    self._ready(data)
                elif event.event == "message":
                    assert event.epoch == self.epoch, (event.id, self.epoch)
                    self._message(data)
                # presence and typing: ephemeral, no cursor of their own

    async def _long_polls(self, url: str) -> None:
        while True:
            params = {**self._cursor(), "wait": "5"}
            async with self.http.get(url, params=params) as response:
                if response.status != 200:
                    return
                answer = await response.json()
            reset = self.epoch is not None and answer["epoch"] != self.epoch and self.since > 0
            behind = self.since + 1 < answer["first_id"] or self.since > answer["last_id"]
            if reset or behind:
                self._gap(answer["epoch"], answer["first_id"])
            self.epoch = answer["epoch"]
            for message in answer["messages"]:
                self._message(message)
            if not answer["messages"]:
                if reset or behind:
                    self.since = max(0, answer["first_id"] - 1)
                self._changed.set()


@dataclass
class Publisher:
    """Publishes ``count`` messages ``NAME-i`` (client_id the same) into one room."""

    http: aiohttp.ClientSession
    urls: Sequence[str]
    room: str
    name: str
    count: int
    start: int = 0
    # client_id -> (status, stored message) of the answer that acknowledged it
    acked: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    refused: list[int] = field(default_factory=list)  # statuses of refusals (503 ...)

    async def run(self, *, pause: float = 0.0) -> None:
        node = self.start
        for i in range(self.count):
            client_id = f"{self.name}-{i}"
            while client_id not in self.acked:
                base = self.urls[node % len(self.urls)]
                body = {"user": self.name, "text": client_id, "client_id": client_id}
                try:
                    async with self.http.post(
                        f"{base}/rooms/{self.room}/messages", json=body
                    ) as response:
                        if response.status in (200, 201):
                            self.acked[client_id] = (response.status, await response.json())
                            break
                        self.refused.append(response.status)
                except NETWORK_ERRORS:
                    self.refused.append(0)
                node += 1  # a retry goes to another node, with the same client_id
                await asyncio.sleep(RECONNECT)
            if pause:
                await asyncio.sleep(pause)


async def read_log(
    http: aiohttp.ClientSession, base: str, room: str, through: int = 0
) -> dict[str, Any]:
    """The whole room as the node at ``base`` serves it (pages of 1000), at least up to id
    ``through``: a message acknowledged by another node reaches this one a moment later
    (through the broker), so a read right after the 201 may not show it yet."""
    messages: list[dict[str, Any]] = []
    async with asyncio.timeout(WAIT):
        while True:
            last = messages[-1]["id"] if messages else 0
            params = {"since": str(last), "limit": "1000"}
            if last < through:
                params["wait"] = "5"  # held until the node has applied more
            async with http.get(f"{base}/rooms/{room}/messages", params=params) as response:
                assert response.status == 200, await response.text()
                answer: dict[str, Any] = await response.json()
            messages += answer["messages"]
            if not answer["messages"] and (messages[-1]["id"] if messages else 0) >= through:
                answer["messages"] = messages
                return answer


def last_acked(*publishers: Publisher) -> int:
    """The highest id any of ``publishers`` was answered with."""
    return max((body["id"] for p in publishers for _, body in p.acked.values()), default=0)


async def healthz(http: aiohttp.ClientSession, base: str) -> int:
    try:
        async with http.get(f"{base}/healthz") as response:
            return response.status
    except NETWORK_ERRORS:
        return 0


async def until_health(http: aiohttp.ClientSession, base: str, status: int) -> None:
    """Until ``/healthz`` of ``base`` answers ``status`` (bounded)."""
    async with asyncio.timeout(WAIT):
        while await healthz(http, base) != status:
            await asyncio.sleep(0.05)
