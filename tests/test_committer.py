"""Group commit: batching, answers only after commit, fan-out independent of publishers."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from hubbub.errors import ProtocolError, StoreError, Unavailable
from hubbub.protocol.encoding import EncodedMessage
from hubbub.protocol.messages import Publish
from hubbub.stats import Stats
from hubbub.store import Appended, MemoryStore, Stamped
from hubbub.store.committer import BURST, MAX_BATCH_TEXT, Committed, Committer


class RecordingStore(MemoryStore):
    """A memory store that remembers its batch sizes and can be made to fail."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[int] = []
        self.fail_next = False

    async def append(self, batch: Sequence[Stamped]) -> list[Appended]:
        self.batches.append(len(batch))
        await asyncio.sleep(0)  # a real store yields while it commits
        if self.fail_next:
            self.fail_next = False
            raise StoreError("disk full")
        return await super().append(batch)


class Told:
    """An answer (``Committer.submit_to``) that writes down what it is told, and when: the
    ids fanned out by then (an ack must follow its message's fan-out)."""

    def __init__(self, fanned: list[int], *, fail: bool = False) -> None:
        self.fanned = fanned
        self.fail = fail
        self.told: list[tuple[str, str, int | str, list[int]]] = []
        self.done = asyncio.Event()

    def committed(self, publish: Publish, message: EncodedMessage, created: bool) -> None:
        self.told.append(("committed", publish.text, message.id, list(self.fanned)))
        self.done.set()
        if self.fail:
            raise RuntimeError("a publisher's answer failed")

    def refused(self, publish: Publish, error: ProtocolError) -> None:
        self.told.append(("refused", publish.text, error.code, list(self.fanned)))
        self.done.set()


def committer(store: RecordingStore, fanned: list[int]) -> Committer:
    def on_commit(results: list[Appended]) -> list[EncodedMessage]:
        fanned.extend(a.message.id for a in results if a.created)
        return [EncodedMessage(a.message, a.epoch) for a in results]

    return Committer(store, on_commit, Stats())


async def test_concurrent_publishes_share_a_transaction() -> None:
    """Publishes queued while a commit runs go together into the next one."""
    store, fanned = RecordingStore(), list[int]()
    commits = committer(store, fanned)
    commits.start()
    futures = [commits.submit(Publish("r", "u", f"m{i}")) for i in range(50)]
    results = await asyncio.gather(*futures)
    assert [r.message.message.id for r in results] == list(range(1, 51))
    assert store.batches == [50] and fanned == list(range(1, 51))
    await commits.close()


async def test_a_burst_arriving_over_several_iterations_shares_one_commit() -> None:
    """A pipelining client's publishes trickle in, a few a loop iteration: the idle
    committer, woken by the first, waits while each iteration brings more (issue 19: at 16
    in flight the burst was split in two commits and two fan-outs)."""
    store, fanned = RecordingStore(), list[int]()
    commits = committer(store, fanned)
    commits.start()
    await asyncio.sleep(0)  # the committer idles, waiting for a publish
    futures = [commits.submit(Publish("r", "u", "m0"))]
    for i in range(1, 6):
        await asyncio.sleep(0)
        futures += [commits.submit(Publish("r", "u", f"m{i}.{n}")) for n in range(BURST)]
    await asyncio.gather(*futures)
    assert store.batches == [1 + 5 * BURST]
    await commits.close()


async def test_a_steady_stream_is_not_held() -> None:
    """One publish an iteration is a stream, not a burst: the committer takes what came
    after one iteration and commits, as before."""
    store, fanned = RecordingStore(), list[int]()
    commits = committer(store, fanned)
    commits.start()
    await asyncio.sleep(0)
    futures = []
    for i in range(20):
        futures.append(commits.submit(Publish("r", "u", f"m{i}")))
        await asyncio.sleep(0)
    await asyncio.gather(*futures)
    assert store.batches[0] <= 2 and sum(store.batches) == 20
    await commits.close()


async def test_a_lone_publish_waits_one_quiet_iteration_only() -> None:
    """Nothing more comes: the first publish is committed without the next one, which
    arrives after a quiet iteration and gets a commit of its own."""
    store, fanned = RecordingStore(), list[int]()
    commits = committer(store, fanned)
    commits.start()
    first = commits.submit(Publish("r", "u", "alone"))
    await first
    second = commits.submit(Publish("r", "u", "later"))
    await second
    assert store.batches == [1, 1]
    await commits.close()


async def test_gathering_a_burst_is_bounded() -> None:
    """Publishes that keep coming, one every iteration for 20 ms (far past GATHER_FOR),
    are still committed as they come, not held until they stop."""
    store, fanned = RecordingStore(), list[int]()
    commits = committer(store, fanned)
    commits.start()
    futures: list[asyncio.Future[Committed]] = []
    loop = asyncio.get_running_loop()
    until = loop.time() + 0.02
    while loop.time() < until:
        futures.append(commits.submit(Publish("r", "u", f"m{len(futures)}")))
        await asyncio.sleep(0)
    assert fanned  # the first commit was fanned out while they still came
    await asyncio.gather(*futures)
    assert len(store.batches) >= 2 and sum(store.batches) == len(futures)
    await commits.close()


async def test_batches_are_capped_by_text_size() -> None:
    """Large messages are split over several transactions."""
    store, fanned = RecordingStore(), list[int]()
    commits = committer(store, fanned)
    commits.start()
    big = "x" * (MAX_BATCH_TEXT // 2)
    await asyncio.gather(*(commits.submit(Publish("r", "u", big)) for _ in range(6)))
    assert store.batches == [2, 2, 2]
    await commits.close()


async def test_failed_commit_refuses_its_batch_only() -> None:
    """A store failure answers 503 to that batch; the next publish still works."""
    store, fanned = RecordingStore(), list[int]()
    commits = committer(store, fanned)
    commits.start()
    store.fail_next = True
    with pytest.raises(Unavailable):
        await commits.submit(Publish("r", "u", "lost"))
    assert (await commits.submit(Publish("r", "u", "kept"))).message.message.id == 1
    assert fanned == [1]
    await commits.close()


async def test_cancelled_publisher_does_not_stop_fan_out() -> None:
    """A publisher that goes away mid-commit: the message is stored and fanned out."""
    store, fanned = RecordingStore(), list[int]()
    commits = committer(store, fanned)
    commits.start()
    future = commits.submit(Publish("r", "u", "orphan"))
    future.cancel()
    await commits.close()  # commits what was queued
    assert fanned == [1]


async def test_closed_committer_refuses() -> None:
    """After close, publishes are refused as unavailable (shutting down)."""
    commits = committer(RecordingStore(), [])
    commits.start()
    await commits.close()
    with pytest.raises(Unavailable):
        await commits.submit(Publish("r", "u", "late"))


async def test_a_large_commit_is_fanned_out_a_slice_per_loop_iteration() -> None:
    """Each slice's fan-out and answers share an iteration; what a slice scheduled (its
    flush) runs before the next slice is applied, and every message is answered."""
    store = RecordingStore()
    slices: list[list[str]] = []
    flushed: list[str] = []
    loop = asyncio.get_running_loop()

    def on_commit(results: list[Appended]) -> list[EncodedMessage]:
        rooms = [a.message.room for a in results]
        slices.append(rooms)
        loop.call_soon(flushed.append, rooms[-1])  # as the scheduler's flush would
        assert flushed == [s[-1] for s in slices[:-1]], "the previous slice's flush ran"
        return [EncodedMessage(a.message, a.epoch) for a in results]

    # Every room has 100 live streams: two rooms' messages fill a slice (2 x 103 of 256).
    commits = Committer(store, on_commit, Stats(), writes_of=lambda room: 100)
    commits.start()
    futures = [commits.submit(Publish(f"room{i}", "u", f"m{i}")) for i in range(7)]
    answers = await asyncio.gather(*futures)
    assert store.batches == [7]
    assert slices == [["room0", "room1"], ["room2", "room3"], ["room4", "room5"], ["room6"]]
    assert [a.message.message.room for a in answers] == [f"room{i}" for i in range(7)]
    await commits.close()


async def test_answers_are_told_in_the_commit_after_the_fan_out() -> None:
    """``submit_to``: each answer is told its message once committed and fanned out (its
    id among those fanned out by then), in submission order, in the same batch as the
    futures; one answer that fails does not keep the others from being told."""
    store, fanned = RecordingStore(), list[int]()
    commits = committer(store, fanned)
    commits.start()
    first, failing, last = Told(fanned), Told(fanned, fail=True), Told(fanned)
    commits.submit_to(Publish("r", "u", "a"), first)
    commits.submit_to(Publish("r", "u", "b"), failing)
    future = commits.submit(Publish("r", "u", "c"))
    commits.submit_to(Publish("r", "u", "d"), last)
    assert (await future).message.id == 3
    assert store.batches == [4]
    assert first.told == [("committed", "a", 1, [1, 2, 3, 4])]
    assert failing.told == [("committed", "b", 2, [1, 2, 3, 4])]
    assert last.told == [("committed", "d", 4, [1, 2, 3, 4])]
    await commits.close()


async def test_answers_are_refused_when_nothing_is_stored() -> None:
    """A store failure, or a committer shutting down, refuses an answer's publish (503),
    never tells it committed."""
    store, fanned = RecordingStore(), list[int]()
    commits = committer(store, fanned)
    commits.start()
    store.fail_next = True
    lost = Told(fanned)
    commits.submit_to(Publish("r", "u", "lost"), lost)
    await asyncio.wait_for(lost.done.wait(), 5)
    await commits.submit(Publish("r", "u", "kept"))
    assert lost.told == [("refused", "lost", "unavailable", [])]
    await commits.close()
    late = Told(fanned)
    commits.submit_to(Publish("r", "u", "late"), late)
    assert late.told == [("refused", "late", "unavailable", [1])]


class SlowStore(MemoryStore):
    """A memory store whose appends last ``seconds`` each (a disk that makes fsync wait)."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds

    async def append(self, batch: Sequence[Stamped]) -> list[Appended]:
        await asyncio.sleep(self.seconds)  # the duration under test, not a wait for an event
        return await super().append(batch)


async def test_the_longest_commit_is_kept_until_taken() -> None:
    """Each commit's time adds up in ``commit_seconds``; ``commit_longest`` keeps the
    longest, which a shorter commit after it does not lower."""
    store = SlowStore(0.2)
    stats = Stats()
    commits = Committer(
        store, lambda results: [EncodedMessage(a.message, a.epoch) for a in results], stats
    )
    commits.start()
    await commits.submit(Publish("r", "u", "slow"))
    # uvloop times in whole milliseconds: a 200 ms sleep may end a millisecond early.
    assert stats.commit_longest >= 0.19 and stats.commit_seconds >= 0.19
    store.seconds = 0.0
    longest = stats.commit_longest
    await commits.submit(Publish("r", "u", "quick"))
    assert stats.commit_longest == longest
    assert stats.commits == 2 and stats.commit_seconds >= longest
    await commits.close()
