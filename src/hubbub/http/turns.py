"""Turns for reading: how much of one event-loop iteration the connections' reads take.

The loop hands over every socket that became readable since it last looked, and each
read is served at once: a request parsed and answered, a WebSocket's frames handled.
After anything that held the loop (a collection, the machine taking the core away), a
reconnect storm has hundreds of connections readable together: 580 upgrades and 200
subscribe reads were served in one iteration of 45 ms (issue 19), a stall of every timer
and of live delivery. So the reads of one iteration take at most :data:`READ_BUDGET`
seconds; a connection that reads after that waits for its turn, in order, in the next
iterations, its bytes kept. While any waits, newcomers wait behind it.

The loop itself is the clock: a turn is a callback of the next iteration, so timers and
the flush of what the served reads queued run between turns.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Protocol

# Seconds of reads served in one loop iteration before the rest wait for the next. An
# iteration then runs at most about twice this (its turn, then the newly readable), plus
# one read and the callbacks those queued: under the 10 ms no stall may pass.
READ_BUDGET = 0.0025


class TurnReader(Protocol):
    def read_turn(self) -> None:
        """Serve what was read while waiting (nothing if it was served meanwhile)."""


class ReadTurns:
    """Whether a read is served now, and the readers waiting for their turn."""

    __slots__ = ("_armed", "_loop", "_queue", "_started", "budget")

    def __init__(self, loop: asyncio.AbstractEventLoop, budget: float = READ_BUDGET) -> None:
        self._loop = loop
        self.budget = budget
        self._queue: deque[TurnReader] = deque()
        self._armed = False  # a turn is scheduled: this iteration's reads are counted
        self._started = 0.0

    def take(self) -> bool:
        """Whether a read may be served now; if not, its reader :meth:`wait`\\ s."""
        if self._queue:
            return False  # in order: after those already waiting
        if not self._armed:
            self._arm()
            return True
        return time.monotonic() - self._started < self.budget

    def wait(self, reader: TurnReader) -> None:
        """``reader`` is served in a later iteration, after those before it."""
        self._queue.append(reader)
        if not self._armed:
            self._arm()

    def waiting(self) -> int:
        return len(self._queue)

    def _arm(self) -> None:
        self._armed = True
        self._started = time.monotonic()
        self._loop.call_soon(self._turn)

    def _turn(self) -> None:
        """The next iteration: serve the waiting readers for a budget (at least one)."""
        queue = self._queue
        self._started = started = time.monotonic()
        while queue:
            queue.popleft().read_turn()
            if time.monotonic() - started >= self.budget:
                break
        if queue:
            self._loop.call_soon(self._turn)
        else:
            self._armed = False
