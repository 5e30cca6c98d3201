"""A load generator process: holds subscribers (counting or probing) and maybe publishes.

The orchestrator (``bench.orchestrate``) starts a few of these, pinned to the generator's
core, and drives them over a pipe with small commands. Commands run as tasks, so a
``cpu`` reading is answered while a ``publish`` is still going on.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
import traceback
from multiprocessing.connection import Connection
from typing import Any

import uvloop

from bench import priority
from bench.checker import StreamTally, latency_summary
from bench.counters import Counter, Pump, open_all
from bench.dialects import DIALECTS, Transport
from bench.driver import Driver, PublishPlan
from bench.subscribers import SubContext, Subscriber, connect_all, make_subscriber


def main(conn: Connection, spec: dict[str, Any]) -> None:
    """Process entry point (multiprocessing target)."""
    cpus = spec.get("cpus")
    if cpus:
        os.sched_setaffinity(0, set(cpus))
    # Each generator process in a session of its own (see servers.running): the kernel's
    # autogroup scheduling then weighs it like any other session on a shared machine.
    os.setsid()
    # Reniced from inside, after setsid: from outside, a write to the autogroup could
    # land on the orchestrator's group if it came before the new session.
    note = priority.renice(os.getpid(), int(spec["nice"])) if "nice" in spec else ""
    uvloop.run(Worker(conn, spec, note).serve())


class Worker:
    def __init__(self, conn: Connection, spec: dict[str, Any], priority_note: str = "") -> None:
        self.conn = conn
        self.priority_note = priority_note
        self.port = int(spec["port"])
        dialect = DIALECTS[spec["dialect"]]
        host = f"127.0.0.1:{self.port}"
        self.ctx = SubContext(
            dialect,
            host,
            long_poll_wait_s=float(spec.get("poll_wait_s", 30.0)),
            short_poll_interval_s=float(spec.get("short_poll_interval_s", 0.25)),
        )
        self.subs: list[Subscriber | Counter] = []
        self.pump = Pump()
        self.driver = Driver(dialect, host, self.port, self.ctx)
        self._done = asyncio.Event()

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        inbox: asyncio.Queue[tuple[int, str, dict[str, Any]] | None] = asyncio.Queue()

        def reader() -> None:
            # A blocking thread, not add_reader: the event loop would make the pipe
            # non-blocking, and a large command arrives in more than one read.
            while True:
                try:
                    item = self.conn.recv()
                except (EOFError, OSError):  # the orchestrator is gone: stop
                    item = None
                loop.call_soon_threadsafe(inbox.put_nowait, item)
                if item is None or item[1] == "exit":
                    return

        threading.Thread(target=reader, name="commands", daemon=True).start()
        tasks: set[asyncio.Task[None]] = set()
        while not self._done.is_set():
            item = await inbox.get()
            if item is None:
                break
            task = asyncio.ensure_future(self._run(*item))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            if item[1] == "exit":
                await task
                break
        self._close()

    async def _run(self, ident: int, command: str, args: dict[str, Any]) -> None:
        try:
            reply = await getattr(self, f"cmd_{command}")(**args)
        except Exception as exc:  # report any failure to the orchestrator, never hang it
            reply = {"error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()}
        self.conn.send((ident, reply))

    def _close(self) -> None:
        for sub in self.subs:
            sub.stop()
        self.pump.close()
        self.driver.stop()

    # Commands

    async def cmd_connect(
        self, transport: str, rooms: list[str], probe: bool, concurrency: int = 200
    ) -> dict[str, Any]:
        kind = Transport(transport)
        failures: list[str]
        if not probe and kind in (Transport.WS, Transport.SSE):
            counters = [Counter(room) for room in rooms]
            self.subs.extend(counters)
            failures = await open_all(
                counters, self.pump, self.ctx.dialect, kind, self.port, concurrency=concurrency
            )
            n = len(counters)
        else:
            new = [make_subscriber(kind, self.ctx, room, probe) for room in rooms]
            self.subs.extend(new)
            if probe:
                self.driver.probes.extend(new)
            failures = await connect_all(new, self.port, concurrency=concurrency)
            n = len(new)
        return {"live": n - len(failures), "failed": len(failures), "failures": failures[:5]}

    async def cmd_open_publishers(self, plan: dict[str, Any]) -> dict[str, Any]:
        await self.driver.open(PublishPlan(**plan))
        return {}

    async def cmd_publish(self, plan: dict[str, Any]) -> dict[str, Any]:
        return await self.driver.run(PublishPlan(**plan))

    async def cmd_cpu(self) -> dict[str, Any]:
        return {"cpu_s": time.process_time(), "wall_ns": time.time_ns()}

    async def cmd_priority(self) -> dict[str, Any]:
        return {"note": self.priority_note, "nice": os.getpriority(os.PRIO_PROCESS, 0)}

    async def cmd_status(self) -> dict[str, Any]:
        alive = sum(1 for s in self.subs if not s.closed and s.error is None)
        return {"alive": alive, "total": len(self.subs)}

    async def cmd_collect(
        self,
        published: dict[str, int],
        deadline_s: float,
        stall_s: float = 3.0,
        ordered: bool = True,
    ) -> dict[str, Any]:
        """Wait until every subscriber has every message, then report.

        The wait ends early when nothing at all has arrived for ``stall_s`` (what is
        missing then is lost, not late), and in any case after ``deadline_s``.
        """
        deadline = time.monotonic() + deadline_s

        def pending() -> int:
            return sum(
                1
                for s in self.subs
                if not s.closed and s.check.next_seq - 1 < published.get(s.room, 0)
            )

        last_total, last_change = -1, time.monotonic()
        # Polling 10,000 subscribers every 50 ms costs less than a callback per read.
        while pending() and time.monotonic() < deadline:
            total = sum(s.check.received for s in self.subs)
            if total != last_total:
                last_total, last_change = total, time.monotonic()
            elif time.monotonic() - last_change > stall_s:
                break
            await asyncio.sleep(0.05)
        counters, probes = StreamTally(), StreamTally()
        errors: list[str] = []
        for sub in self.subs:
            tally = probes if sub.probe else counters
            tally.add(
                f"{sub.room}/{'probe' if sub.probe else 'counter'}",
                sub.check,
                published.get(sub.room, 0),
                ordered,
            )
            if sub.error and len(errors) < 5:
                errors.append(f"{sub.room}: {sub.error}")
        return {
            "counters": vars(counters),
            "probes": vars(probes),
            "errors": errors,
            "closed": sum(1 for s in self.subs if s.closed and not s.stopping),
            "id_mismatches": sum(s.id_mismatches for s in self.subs),
            "last_rx_ns": max((s.last_rx_ns for s in self.subs), default=0),
            "latency": latency_summary(self.ctx.latencies_ns),
            "latencies_ns": self.ctx.latencies_ns if len(self.ctx.latencies_ns) < 400_000 else [],
            "polls": sum(getattr(s, "polls", 0) for s in self.subs),
        }

    async def cmd_exit(self) -> dict[str, Any]:
        self._close()
        self._done.set()
        return {}
