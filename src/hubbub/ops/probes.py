"""How late the event loop runs a timer, and how long the garbage collector pauses.

A stall (a long callback, a blocking call, a collection) delays every connection of the
node at once, and neither the counters nor the latency of publishes that happened to
arrive outside it show it. The probe asks the loop to wake it every ``interval``; how late
it wakes is how long the loop was busy with something else, to the loop clock's
resolution (uvloop's is a millisecond). The collector's own time is measured through
``gc.callbacks``, around every collection the interpreter makes.
"""

from __future__ import annotations

import asyncio
import gc
import time
from typing import Any

# Often enough that a stall of 50 ms or more is seen about whole; the callback costs
# about a microsecond, 20 times a second.
PROBE_INTERVAL = 0.05


class LoopLagProbe:
    """A timer that measures how late it fires; :meth:`take` the longest since last asked."""

    def __init__(self, interval: float = PROBE_INTERVAL) -> None:
        self.interval = interval
        self.longest = 0.0  # since the last take()
        self.longest_ever = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._due = 0.0

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._arm()

    def _arm(self) -> None:
        assert self._loop is not None
        self._due = self._loop.time() + self.interval
        self._handle = self._loop.call_at(self._due, self._fired)

    def _fired(self) -> None:
        assert self._loop is not None
        late = max(0.0, self._loop.time() - self._due)
        if late > self.longest:
            self.longest = late
            self.longest_ever = max(self.longest_ever, late)
        self._arm()

    def take(self) -> float:
        """The longest stall since the previous call, seconds; counting starts again."""
        longest, self.longest = self.longest, 0.0
        return longest

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


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
