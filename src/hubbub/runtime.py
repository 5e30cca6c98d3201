"""Process-wide tuning for a long-running server: the garbage collector.

A server's start-up leaves hundreds of thousands of long-lived objects (modules,
the application, its routes). CPython's cyclic collector walks the young
generation every 700 allocations and the older ones every few collections, so
on the long-poll path (many short-lived request objects) about a fifth of the
samples in py-spy profiles were ``gc_collect_main`` walking objects that never
die. ``gc.freeze()`` moves everything alive after start-up out of the
collector's sight, and a higher first threshold collects the young generation
less often; reference counting still frees acyclic garbage at once.

Start-up is not the only source of long-lived objects: every connection and
subscription builds some, which age into the older generations, and with 10,000
users connected a generation-1 pass took 150-290 ms and a full pass 775 ms, each
a stall of the whole loop (issue 19). So :class:`CollectorPolicy` does the same
again every :data:`FREEZE_EVERY` seconds: a pass over the two younger generations
(what survived since the last freeze: a fraction of a second of connections),
then ``gc.freeze()``. No pass ever walks the long-lived state in one go.

The price: a reference cycle among objects that were frozen while alive is never
collected. The hot paths make none (``tests/test_no_cycles.py``), so this is a
bounded leak at worst; ``/metrics`` shows the frozen count so growth is visible.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import gc
import os
import sys

# Young-generation threshold (allocations minus frees between collections); CPython's
# default is 700. Older generations keep their defaults. 50,000 before the freezes
# below: a young pass then walked up to 50,000 objects, itself a stall of tens of ms.
YOUNG_THRESHOLD = 10_000

# Seconds between freezes of what survived: a reconnect storm of 5,000 users a second
# at the 25 tracked objects a user issue 19 asks for leaves 6,250 objects a pass.
# Measured (CPU time of each pass, 10,000 users on GET /ws through aiohttp at about
# 130 objects each, 2,000 msg/s): the longest pass 554 ms without the policy, 72 ms
# with it while serving; fewer objects per user bring it down further. At 0.1 s a
# storm of 15,000 users at about 4,000 a second (38 objects each) made passes of 5-9
# ms; a pass costs about what came since the last, so halving the interval halves it
# (an idle pass, with nothing new, costs microseconds).
FREEZE_EVERY = 0.05


# The context the callbacks each connection and subscription keeps registered run in (a
# stream's end, a heartbeat timer). asyncio otherwise copies the current context for
# every callback, one more tracked object for as long as the connection lives (issue
# 19). hubbub sets no context variable, so the callbacks lose nothing; they run one at a
# time, never inside one another, so one context serves them all.
CALLBACK_CONTEXT = contextvars.Context()


# How long a thread waiting for the GIL lets a busy one keep it (CPython's default is 5 ms).
# The SQLite store's writer thread lets the GIL go at every SQLite step, and taking it back
# from a busy event loop waited out the interval each time: at 15,000 users and 5,000
# msg/s (issue 19), a publish took 12-15 ms on average from being accepted to its commit
# with 5 ms and 6-14 ms with 1 ms; delivery p99 72-122 ms against 42-86 ms, the longest
# loop stall 48-76 against 27-34 ms, at the same CPU per delivery (3 runs each).
SWITCH_INTERVAL = 0.001


def tune_threads() -> None:
    """Hand the GIL over to a waiting thread (the store's) sooner."""
    sys.setswitchinterval(SWITCH_INTERVAL)


def as_batch_thread() -> None:
    """Mark the calling thread as throughput work (Linux's ``SCHED_BATCH``).

    For the SQLite store's writer and checkpoint threads, which share the event loop's
    core whenever the machine is busy. A normal thread's wake-up (a batch handed to the
    writer, its fsync done) preempts the loop's thread in the middle of an iteration; a
    batch thread waits for the loop to block or its slice to end, and still gets its
    fair share of the core, so it is never starved. Elsewhere, and where the kernel
    refuses, the thread is left as it is.
    """
    policy = getattr(os, "SCHED_BATCH", None)
    if policy is None:
        return
    with contextlib.suppress(OSError):
        os.sched_setscheduler(0, policy, os.sched_param(0))  # 0: this thread, on Linux


def tune_gc() -> None:
    """Freeze what start-up built and collect the young generation less often."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)


class CollectorPolicy:
    """Every ``interval`` seconds: collect the two younger generations, freeze the rest."""

    __slots__ = ("_handle", "_interval", "_loop")

    def __init__(self, loop: asyncio.AbstractEventLoop, interval: float = FREEZE_EVERY) -> None:
        self._loop = loop
        self._interval = interval
        self._handle: asyncio.TimerHandle | None = None

    def start(self) -> None:
        self._handle = self._loop.call_later(self._interval, self._tick)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _tick(self) -> None:
        freeze_survivors()
        self._handle = self._loop.call_later(self._interval, self._tick)


def freeze_survivors() -> None:
    """Free the younger generations' garbage, then move what lives out of the collector's
    sight (a pass of generation 1 walks only what came since the last freeze)."""
    gc.collect(1)
    gc.freeze()
