"""Group commit: publishes that arrive while a transaction runs share the next one.

Publishers hand their validated message to :meth:`Committer.submit` and await
the returned future, or to :meth:`Committer.submit_to` with an :class:`Answer` that
is told in the commit's own step (a WebSocket's ``ack``: no future, no callback of
the loop, per publish). A single task takes everything queued (woken from idle, once a
burst has arrived: ``GATHER_FOR``), commits it in one store transaction, then calls
``on_commit`` (the fan-out) and only then answers, so a ``201`` or ``ack`` is always
sent after the row is durable. A large batch is fanned out a slice per loop iteration
(commit_slices.py), each slice's answers with it. Because fan-out runs here and not in
the request handler, a publisher that disconnects mid-commit cannot stop its message
from reaching subscribers once it is stored.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from hubbub.errors import ProtocolError, StoreError, TooManyRooms, Unavailable
from hubbub.protocol.encoding import EncodedMessage
from hubbub.protocol.messages import Publish
from hubbub.stats import Stats
from hubbub.store.base import Appended, Stamped, Store
from hubbub.store.commit_slices import slice_ends

log = logging.getLogger(__name__)

# Largest batch per transaction: bounds the latency of the first publish in it,
# and the burst one commit fans out to every subscriber in one loop iteration
# (a burst past a subscriber's outbox limit would drop even a fast reader).
MAX_BATCH = 2000
MAX_BATCH_TEXT = 256 * 1024  # characters of text
# How long an idle committer, woken by a publish, waits for the rest of a burst: a client
# that pipelines 16 publishes on one connection sends them as it reads the 16 answers,
# and they arrive over a few loop iterations. Committed at the first one, the burst
# split in two commits, two fan-outs, two sends to every subscriber (measured: 7.7-8.0
# publishes a commit at 16 in flight). The committer waits while each iteration brings
# at least BURST more, at most this long; a lone publish waits one iteration. A steady
# stream (the chat shape: a publish every 200 us) brings fewer, so its commits are not
# held: waiting for each of those would leave the store's writer idle meanwhile.
GATHER_FOR = 0.001
BURST = 2


def _no_writes(room: str) -> int:
    """A room's flush cost when the caller does not say: its messages' own only."""
    return 0


@dataclass(frozen=True, slots=True)
class Committed:
    """A publish's answer: the stored message (encoded once) and whether it is new."""

    message: EncodedMessage
    created: bool


class Answer(Protocol):
    """Told a publish's outcome in the commit's step, after the fan-out (the rooms' frames
    are marked for this iteration's flush before anything an answer queues)."""

    def committed(self, publish: Publish, message: EncodedMessage, created: bool) -> None: ...

    def refused(self, publish: Publish, error: ProtocolError) -> None: ...


# Who waits for a publish: a future (``submit``), or an answer (``submit_to``).
Waiter = asyncio.Future[Committed] | Answer
Queued = tuple[Stamped, Waiter, float]  # the publish, who waits, loop time it was accepted


class Committer:
    """Owns the write path from an accepted publish to a committed row."""

    def __init__(
        self,
        store: Store,
        on_commit: Callable[[list[Appended]], list[EncodedMessage]],
        stats: Stats,
        writes_of: Callable[[str], int] = _no_writes,
    ) -> None:
        self._store = store
        self._on_commit = on_commit
        # What one flush of a room costs in writes, for cutting a batch (commit_slices).
        self._writes_of = writes_of
        self._stats = stats
        self._queue: list[Queued] = []
        self._ready = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        # Kept: submit() runs once per publish, and CPython 3.11's get_running_loop()
        # costs a getpid system call each time.
        self._loop = asyncio.get_running_loop()
        self._task = self._loop.create_task(self._run(), name="hubbub-committer")

    def submit(self, publish: Publish) -> asyncio.Future[Committed]:
        """Queue a publish; the future resolves once it is committed (or refused)."""
        loop = self._loop or asyncio.get_running_loop()
        future: asyncio.Future[Committed] = loop.create_future()
        self._enqueue(publish, future)
        return future

    def submit_to(self, publish: Publish, answer: Answer) -> None:
        """Queue a publish; ``answer`` is told once it is committed (or refused), in the
        commit's step, or at once if the server is shutting down."""
        self._enqueue(publish, answer)

    def _enqueue(self, publish: Publish, waiter: Waiter) -> None:
        if self._closing:
            _refuse(waiter, publish, Unavailable("the server is shutting down"))
            return
        stamped = Stamped(publish, ts=time.time_ns() // 1_000_000)
        # perf_counter, not loop.time(): uvloop's clock moves in whole milliseconds, and
        # a publish is often delivered within one.
        self._queue.append((stamped, waiter, time.perf_counter()))
        if len(self._queue) == 1:  # else set already: only _run clears it, on an empty queue
            self._ready.set()

    async def _run(self) -> None:
        while True:
            if not self._ready.is_set():  # idle: the first publish of whatever comes next
                await self._ready.wait()
                await self._gather()
            if not self._queue:
                self._ready.clear()
                if self._closing:
                    return
                continue
            size = _batch_size(self._queue)
            batch, self._queue = self._queue[:size], self._queue[size:]
            await self._commit(batch)

    async def _gather(self) -> None:
        """Let a burst arrive (``GATHER_FOR``): a loop iteration at a time, while each
        brings ``BURST`` publishes or more."""
        deadline = time.perf_counter() + GATHER_FOR
        queued = len(self._queue)
        while queued < MAX_BATCH and not self._closing:
            await asyncio.sleep(0)
            if len(self._queue) - queued < BURST or time.perf_counter() >= deadline:
                return
            queued = len(self._queue)

    async def _commit(self, batch: list[Queued]) -> None:
        started = time.perf_counter()
        try:
            results = await self._store.append([stamped for stamped, _, _ in batch])
        except Exception as exc:  # any failure means nothing was accepted
            if not isinstance(exc, StoreError | OSError):
                log.exception("unexpected store failure")
            log.error("store refused %d publishes: %s", len(batch), exc)
            for stamped, waiter, _ in batch:
                _refuse(waiter, stamped.publish, Unavailable("the store cannot take the write"))
            return
        if any(appended.refused for appended in results):
            batch, results = self._refuse(batch, results)
        stats = self._stats
        spent = time.perf_counter() - started
        stats.commits += 1
        stats.commit_seconds += spent
        if spent > stats.commit_longest:
            stats.commit_longest = spent
        # Applied a slice per loop iteration (commit_slices.py): the previous slice's
        # flush, and the reads waiting meanwhile, go before the next slice.
        start = 0
        for end in slice_ends([appended.message.room for appended in results], self._writes_of):
            if start:
                await asyncio.sleep(0)
            self._apply(batch[start:end], results[start:end])
            start = end

    def _apply(self, batch: list[Queued], results: list[Appended]) -> None:
        """Fan committed messages out, then answer their publishers."""
        try:
            encoded = self._on_commit(results)
        except Exception:  # the rows are committed: answer the publishers regardless
            log.exception("fan-out failed")
            encoded = [EncodedMessage(appended.message, appended.epoch) for appended in results]
        now = time.perf_counter()
        stats = self._stats
        stats.publish_count += len(batch)
        accepted_at = [accepted for _, _, accepted in batch]
        stats.publish_seconds += sum(now - accepted for accepted in accepted_at)
        # The fan-out above marked the rooms for this iteration's flush, which the loop runs
        # before this callback: the latency counted is from accepting to the socket writes.
        (self._loop or asyncio.get_running_loop()).call_soon(stats.record_delivery, accepted_at)
        for (stamped, waiter, _), appended, message in zip(batch, results, encoded, strict=True):
            if isinstance(waiter, asyncio.Future):
                if not waiter.done():
                    waiter.set_result(Committed(message, appended.created))
                continue
            try:
                waiter.committed(stamped.publish, message, appended.created)
            except Exception:  # one publisher's failure must not keep the others waiting
                log.exception("answering a publish failed")

    def _refuse(
        self, batch: list[Queued], results: list[Appended]
    ) -> tuple[list[Queued], list[Appended]]:
        """Answer the publishes the store refused (a new room past ``max_rooms``) with 403;
        the rest of the batch, committed, goes on to the fan-out."""
        kept: list[Queued] = []
        stored: list[Appended] = []
        for entry, appended in zip(batch, results, strict=True):
            if not appended.refused:
                kept.append(entry)
                stored.append(appended)
            else:
                error = TooManyRooms("the server holds as many rooms as it may")
                _refuse(entry[1], entry[0].publish, error)
        return kept, stored

    async def close(self) -> None:
        """Refuse new publishes, commit what is queued, and stop."""
        self._closing = True
        self._ready.set()
        if self._task is not None:
            await self._task


def _refuse(waiter: Waiter, publish: Publish, error: ProtocolError) -> None:
    if isinstance(waiter, asyncio.Future):
        if not waiter.done():
            waiter.set_exception(error)
        return
    try:
        waiter.refused(publish, error)
    except Exception:
        log.exception("answering a publish failed")


def _batch_size(queue: list[Queued]) -> int:
    """How many queued publishes the next transaction takes: at least one."""
    text = 0
    for count, (stamped, _, _) in enumerate(queue[:MAX_BATCH], start=1):
        text += len(stamped.publish.text)
        if text >= MAX_BATCH_TEXT:
            return count
    return min(len(queue), MAX_BATCH)
