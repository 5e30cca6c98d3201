"""How late the event loop runs a timer, and how long the garbage collector pauses.

A stall (a long callback, a blocking call, a collection) delays every connection of the
node at once, and neither the counters nor the latency of publishes that happened to
arrive outside it show it. The probe asks the loop to wake it every ``interval``; how late
it wakes is how long the loop was busy with something else, to the loop clock's
resolution (uvloop's is a millisecond). On a machine shared with other processes a timer
is also late when the kernel gave the core to someone else, so the probe also keeps the
part of each stall the process could have spent itself: at most the CPU time all its
threads used since the timer was set (the loop's callbacks, the collector, the store's
thread holding the interpreter). The collector's own time is measured through
``gc.callbacks``, around every collection the interpreter makes.
"""

from __future__ import annotations

import asyncio
import collections
import gc
import time
from typing import Any

# Often enough that a stall of 50 ms or more is seen about whole; the callback costs
# about a microsecond, 20 times a second.
PROBE_INTERVAL = 0.05
# How far back busy_stall() looks, seconds (as /metrics' longest stall).
BUSY_WINDOW = 60


class LoopLagProbe:
    """A timer that measures how late it fires; :meth:`take` the longest since last asked."""

    def __init__(self, interval: float = PROBE_INTERVAL) -> None:
        self.interval = interval
        self.longest = 0.0  # since the last take()
        self.longest_ever = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._due = 0.0
        self._cpu_at_arm = 0.0
        # (whole second of the loop clock, the longest busy stall fired in it)
        self._busy: collections.deque[tuple[int, float]] = collections.deque(maxlen=BUSY_WINDOW + 1)

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._arm()

    def _arm(self) -> None:
        assert self._loop is not None
        self._due = self._loop.time() + self.interval
        self._cpu_at_arm = time.process_time()
        self._handle = self._loop.call_at(self._due, self._fired)

    def _fired(self) -> None:
        assert self._loop is not None
        now = self._loop.time()
        late = max(0.0, now - self._due)
        if late > self.longest:
            self.longest = late
            self.longest_ever = max(self.longest_ever, late)
        self.record_busy(now, busy_part(late, time.process_time() - self._cpu_at_arm))
        self._arm()

    def record_busy(self, now: float, busy: float) -> None:
        """Keep ``busy`` as the second ``now``'s longest if it is."""
        second = int(now)
        if self._busy and self._busy[-1][0] == second:
            if busy > self._busy[-1][1]:
                self._busy[-1] = (second, busy)
        else:
            self._busy.append((second, busy))

    def busy_stall(self, now: float) -> float:
        """The longest stall of the last ``BUSY_WINDOW`` seconds counting only what the
        process could have spent itself (see :func:`busy_part`), seconds."""
        since = int(now) - BUSY_WINDOW
        return max((busy for second, busy in self._busy if second >= since), default=0.0)

    def take(self) -> float:
        """The longest stall since the previous call, seconds; counting starts again."""
        longest, self.longest = self.longest, 0.0
        return longest

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


def busy_part(late: float, cpu: float) -> float:
    """Of a timer ``late`` seconds late, the part the process may have been running: at
    most the ``cpu`` seconds it used since the timer was set. An upper bound: CPU spent
    before the timer was due counts too; time the kernel gave to others does not."""
    return min(late, max(0.0, cpu))


class GcClock:
    """Time the interpreter spends in garbage collection, from ``gc.callbacks``.

    The collector is the process's, so with several nodes in one process (the tests)
    each clock counts every collection.
    """

    def __init__(self) -> None:
        self.seconds = 0.0
        self.collections = 0
        self._started: float | None = None

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        elif self._started is not None:
            self.seconds += time.perf_counter() - self._started
            self.collections += 1
            self._started = None

    def start(self) -> None:
        if self._callback not in gc.callbacks:
            gc.callbacks.append(self._callback)

    def stop(self) -> None:
        if self._callback in gc.callbacks:
            gc.callbacks.remove(self._callback)
