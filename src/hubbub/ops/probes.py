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
from collections.abc import Callable
from typing import Any

# Often enough that a stall of 50 ms or more is seen about whole; the callback costs
# about a microsecond, 20 times a second.
PROBE_INTERVAL = 0.05
# How far back longest_stall() and busy_stall() look, seconds (/metrics' last minute).
WINDOW = 60


class MinuteMax:
    """The largest of the values recorded in the last ``WINDOW`` seconds, kept as each
    whole second's largest."""

    __slots__ = ("_seconds",)

    def __init__(self) -> None:
        self._seconds: collections.deque[tuple[int, float]] = collections.deque(maxlen=WINDOW + 1)

    def record(self, now: float, value: float) -> None:
        second = int(now)
        seconds = self._seconds
        if seconds and seconds[-1][0] == second:
            seconds[-1] = (second, max(seconds[-1][1], value))
        else:
            seconds.append((second, value))

    def longest(self, now: float) -> float:
        since = int(now) - WINDOW
        return max((value for second, value in self._seconds if second >= since), default=0.0)


class LoopLagProbe:
    """A timer that measures how late it fires; :meth:`take` the longest since last asked,
    :meth:`longest_stall` and :meth:`busy_stall` the longest of the last minute."""

    def __init__(
        self,
        interval: float = PROBE_INTERVAL,
        on_fired: Callable[[float], None] | None = None,
    ) -> None:
        self.interval = interval
        # Told how late each firing was (Stats.count_loop_lag: /metrics' histogram).
        self._on_fired = on_fired
        self.longest = 0.0  # since the last take()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._due = 0.0
        self._cpu_at_arm = 0.0
        # The last minute's stalls, and their busy parts, per second of the loop clock.
        self._stalls = MinuteMax()
        self._busy = MinuteMax()

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
        self.longest = max(self.longest, late)
        self.record(now, late, busy_part(late, time.process_time() - self._cpu_at_arm))
        if self._on_fired is not None:
            self._on_fired(late)
        self._arm()

    def record(self, now: float, stall: float, busy: float) -> None:
        """Keep ``stall`` and ``busy`` as the second ``now``'s longest where they are."""
        self._stalls.record(now, stall)
        self._busy.record(now, busy)

    def longest_stall(self, now: float) -> float:
        """The longest stall of the last ``WINDOW`` seconds, seconds."""
        return self._stalls.longest(now)

    def busy_stall(self, now: float) -> float:
        """The longest stall of the last ``WINDOW`` seconds counting only what the process
        could have spent itself (see :func:`busy_part`), seconds."""
        return self._busy.longest(now)

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
