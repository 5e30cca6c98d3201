"""The publishing side of a run: warm-up, then paced, flooded or closed-loop publishing.

It lives in the same process as the probes, so a flood can be clocked by them: the next
message goes out only while the slowest probe is fewer than ``window`` messages behind.
That makes "the highest rate the server sustains" a measurement, not a guess: the server's
own delivery speed sets the publish rate, and no queue anywhere grows without bound.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from bench.checker import latency_summary
from bench.dialects import Dialect
from bench.payload import make_text
from bench.publishers import HttpPublisher, Publisher, WsPublisher, open_publisher
from bench.subscribers import SubContext, Subscriber


@dataclass
class PublishPlan:
    mode: str  # "paced", "flood" or "closed" (publish throughput: no subscribers)
    rooms: list[str]
    via: str  # "ws" or "http"
    duration_s: float
    rate: float = 0.0  # paced: messages per second over all rooms
    max_messages: int = 1_000_000
    window: int = 200  # flood: how far the slowest probe may fall behind
    pipeline: int = 64  # outstanding publishes per connection
    warmup: int = 50
    # Closed loop: connections (WS: one room each). Paced and flood over HTTP: a crowd of
    # publishers taking turns, each `pipeline` in flight.
    connections: int = 1
    lag_abort_s: float = 5.0  # paced: give up once probes are this far behind


@dataclass
class Outcome:
    published: dict[str, int] = field(default_factory=dict)
    measured: int = 0
    measure_from_ns: int = 0
    measure_until_ns: int = 0
    aborted: str = ""
    ack_latencies_ns: list[int] = field(default_factory=list)

    def to_dict(self, pubs: list[Publisher]) -> dict[str, Any]:
        return {
            "published": self.published,
            "measured": self.measured,
            "measure_from_ns": self.measure_from_ns,
            "measure_until_ns": self.measure_until_ns,
            "aborted": self.aborted,
            "acked": sum(p.acked for p in pubs),
            "publish_errors": sum(p.errors for p in pubs),
            "first_publish_error": next((p.first_error for p in pubs if p.first_error), ""),
            "ack_latency": latency_summary(self.ack_latencies_ns),
        }


class Driver:
    """Publishes according to a plan, watching the probes of the same process."""

    def __init__(self, dialect: Dialect, host: str, port: int, ctx: SubContext) -> None:
        self.dialect = dialect
        self.host = host
        self.port = port
        self.ctx = ctx
        self.probes: list[Subscriber] = []
        self.pubs: dict[str, Publisher] = {}  # room -> its publisher
        self.crowd: list[Publisher] = []  # or publishers taking turns, whatever the room
        self._turn = 0
        self._progress = asyncio.Event()
        ctx.on_progress = self._progress.set

    async def open(self, plan: PublishPlan) -> None:
        if plan.mode == "closed":
            return
        if plan.via == "ws":
            for room in plan.rooms:
                pub = WsPublisher(self.dialect, self.host, room, plan.pipeline)
                await open_publisher(pub, self.port)
                self.pubs[room] = pub
        elif plan.connections > 1:
            for _ in range(plan.connections):
                one = HttpPublisher(self.dialect, self.host, plan.pipeline)
                await open_publisher(one, self.port)
                self.crowd.append(one)
        else:
            shared = HttpPublisher(self.dialect, self.host, plan.pipeline)
            await open_publisher(shared, self.port)
            self.pubs = dict.fromkeys(plan.rooms, shared)

    def _unique_pubs(self) -> list[Publisher]:
        return list({id(p): p for p in [*self.pubs.values(), *self.crowd]}.values())

    def _publisher(self, room: str) -> Publisher:
        """The room's publisher, or the crowd's next one in turn."""
        if not self.crowd:
            return self.pubs[room]
        self._turn += 1
        return self.crowd[self._turn % len(self.crowd)]

    async def run(self, plan: PublishPlan) -> dict[str, Any]:
        out = Outcome(published=dict.fromkeys(plan.rooms, 0))
        if plan.mode == "closed":
            return await self._closed(plan, out)
        try:
            await self._paced(plan, out, plan.warmup, 200.0 if len(plan.rooms) == 1 else 2000.0)
            await asyncio.sleep(0.3)
            out.measure_from_ns = self.ctx.measure_from_ns = time.time_ns()
            before = sum(out.published.values())
            if plan.mode == "flood":
                await self._flood(plan, out)
            else:
                count = min(plan.max_messages, int(plan.rate * plan.duration_s))
                await self._paced(plan, out, count, plan.rate)
            out.measured = sum(out.published.values()) - before
        except _Abort as exc:
            out.aborted = str(exc)
            out.measured = sum(out.published.values()) - plan.warmup
        out.measure_until_ns = time.time_ns()
        return out.to_dict(self._unique_pubs())

    # Open loop

    def _send(self, pub: Publisher, room: str, out: Outcome) -> None:
        if pub.closed:
            raise _Abort("the server closed the publisher's connection")
        seq = out.published[room] + 1
        out.published[room] = seq
        pub.publish(room, make_text(seq, time.time_ns()), f"b-{room}-{seq}")

    def _lag(self, out: Outcome) -> int:
        """How many messages the slowest probe still misses."""
        if not self.probes:
            return 0
        return max(out.published[p.room] - (p.check.next_seq - 1) for p in self.probes)

    async def _paced(self, plan: PublishPlan, out: Outcome, count: int, rate: float) -> None:
        rooms = plan.rooms
        start = time.monotonic()
        lag_limit = max(plan.window, int(rate * plan.lag_abort_s))
        give_up = start + count / rate + plan.lag_abort_s
        for i in range(count):
            due = start + i / rate
            now = time.monotonic()
            if now > give_up:
                raise _Abort(f"publishing fell more than {plan.lag_abort_s:g} s behind")
            if due - now > 0.0005:
                await asyncio.sleep(due - now)
                if self._lag(out) > lag_limit:
                    raise _Abort(f"probes fell more than {plan.lag_abort_s:g} s behind")
            room = rooms[i % len(rooms)]
            pub = self._publisher(room)
            if not pub.room_free.is_set():
                await self._wait(pub.room_free.wait(), "publish acknowledgements stalled")
            self._send(pub, room, out)

    async def _flood(self, plan: PublishPlan, out: Outcome) -> None:
        rooms = plan.rooms
        end = time.monotonic() + plan.duration_s
        i = 0
        # Waits below are bounded too (10 s each), and the loop by time and count.
        while i < plan.max_messages and time.monotonic() < end:
            while self._lag(out) >= plan.window:
                self._progress.clear()
                await self._wait(self._progress.wait(), "probes stopped receiving")
            room = rooms[i % len(rooms)]
            pub = self._publisher(room)
            if not pub.room_free.is_set():
                await self._wait(pub.room_free.wait(), "publish acknowledgements stalled")
            self._send(pub, room, out)
            i += 1
            if i % 64 == 0:
                await asyncio.sleep(0)  # let acks and probe reads in between bursts

    async def _wait(self, aw: Any, why: str) -> None:
        try:
            await asyncio.wait_for(aw, 10.0)
        except TimeoutError:
            raise _Abort(why) from None

    # Closed loop: publish throughput

    async def _closed(self, plan: PublishPlan, out: Outcome) -> dict[str, Any]:
        pubs: list[Publisher] = []
        rooms: list[str] = []
        for i in range(plan.connections):
            room = plan.rooms[i % len(plan.rooms)]
            pub: Publisher
            if plan.via == "ws":
                pub = WsPublisher(self.dialect, self.host, room, plan.pipeline)
            else:
                pub = HttpPublisher(self.dialect, self.host, plan.pipeline)
            await open_publisher(pub, self.port)
            pubs.append(pub)
            rooms.append(room)
        deadline = time.monotonic() + plan.duration_s
        counter = [0]
        latencies = out.ack_latencies_ns

        def sender(pub: Publisher, room: str) -> None:
            def on_ack(latency_ns: int) -> None:
                latencies.append(latency_ns)
                if time.monotonic() < deadline and not pub.closed:
                    fire()

            def fire() -> None:
                counter[0] += 1
                n = counter[0]
                pub.publish(room, make_text(n, time.time_ns()), f"c-{n}")

            pub.on_ack = on_ack
            for _ in range(plan.pipeline):
                fire()

        out.measure_from_ns = time.time_ns()
        for pub, room in zip(pubs, rooms, strict=True):
            sender(pub, room)
        await asyncio.sleep(plan.duration_s)
        out.measure_until_ns = time.time_ns()
        # Stragglers still count as published, but the rate only counts acks in the window.
        acked_in_window = sum(p.acked for p in pubs)
        await asyncio.sleep(0.5)
        out.measured = acked_in_window
        out.published = {"*": counter[0]}
        result = out.to_dict(pubs)
        for pub in pubs:
            pub.stop()
        return result

    def stop(self) -> None:
        for pub in self._unique_pubs():
            pub.stop()


class _Abort(Exception):
    """The run cannot go on (the server fell too far behind or stopped answering)."""
