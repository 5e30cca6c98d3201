"""Work over every connection, done a slice per event-loop iteration.

The heartbeat's round visits every stream and socket of the node: with 15,000 sockets
connected in one storm their pings fall due together, and one pass pushed 15,000 pings
that the next flush wrote in one go (130-190 ms measured, a stall of everything). A
:class:`SlicedRound` visits at most ``size`` items per iteration instead: the flush
between two slices writes only what one slice queued.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

from hubbub.runtime import CALLBACK_CONTEXT

T = TypeVar("T")

# Items a slice visits. A visit that pings queues one write, its send about 8 us on this
# loopback, and the ping itself as much: 250 keep a slice and its flush near 5 ms (500
# measured 8-11 ms at 15,000 sockets).
SLICE = 250


class SlicedRound(Generic[T]):
    """Calls ``visit`` on each item of a round, ``size`` items per loop iteration.

    ``still(item)`` is asked before each visit: an item gone since the round began (a
    closed socket) is skipped. A round asked for while one runs is not started: the
    running one visits everybody soon enough.
    """

    __slots__ = ("_items", "_loop", "_next", "_still", "_visit", "size")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        visit: Callable[[T], None],
        still: Callable[[T], bool],
        size: int = SLICE,
    ) -> None:
        self._loop = loop
        self._visit = visit
        self._still = still
        self.size = size
        self._items: list[T] = []
        self._next = 0

    @property
    def running(self) -> bool:
        return self._next < len(self._items)

    def start(self, items: Iterable[T]) -> bool:
        """Begin a round over ``items`` (its first slice now); False if one runs."""
        if self.running:
            return False
        self._items = list(items)
        self._next = 0
        self._slice()
        return True

    def _slice(self) -> None:
        items, start = self._items, self._next
        end = min(start + self.size, len(items))
        self._next = end
        visit, still = self._visit, self._still
        for index in range(start, end):
            item = items[index]
            if still(item):
                visit(item)
        if end < len(items):
            self._loop.call_soon(self._slice, context=CALLBACK_CONTEXT)
        else:
            self._items = []
            self._next = 0
