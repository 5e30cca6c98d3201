"""Per-subscriber stream checks and latency statistics: pure, no I/O.

Every subscriber, counting or probing, feeds the sequence numbers it received (in arrival
order) to a ``StreamCheck``. At the end the check knows, against how many messages were
published to that subscriber's room, how many were lost, doubled or delivered out of
order. The common case (a run of consecutive numbers continuing the stream) costs one
list comparison in C, so counting subscribers can afford to check every message.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from bench.payload import seqs_in

FULL_CHECK_EVERY = 8


@dataclass
class StreamCheck:
    """Checks one subscriber's stream of sequence numbers (1, 2, 3, ... per room)."""

    next_seq: int = 1
    received: int = 0
    duplicates: int = 0
    reordered: int = 0
    spans: int = 0  # reads seen by feed_span
    # Missing ranges [start, end) below next_seq, sorted; a late arrival fills a hole.
    holes: list[tuple[int, int]] = field(default_factory=list)

    def feed(self, seqs: Sequence[int]) -> None:
        """Record ``seqs``, received in this order."""
        if not seqs:
            return
        start = self.next_seq
        n = len(seqs)
        # Fast path: exactly the next n numbers. Compared in C; no per-item Python work.
        if seqs[0] == start and seqs[-1] == start + n - 1 and list(range(start, start + n)) == seqs:
            self.next_seq = start + n
            self.received += n
            return
        for seq in seqs:
            self._one(seq)

    def feed_span(self, count: int, first: int, last: int, data: bytes) -> None:
        """Record ``count`` numbers from ``first`` to ``last`` found in ``data``.

        The common case costs nothing more: the count and both ends continue the stream,
        so nothing was lost or doubled in between and the order holds across reads. What
        that cannot see (two messages swapped, or one doubled and one lost, inside one
        read) is looked for by reading every number of the first read and of every
        ``FULL_CHECK_EVERY``-th one; the probes read every number of every read.
        """
        self.spans += 1
        if (
            first == self.next_seq
            and last == first + count - 1
            and self.spans % FULL_CHECK_EVERY != 1
        ):
            self.next_seq = last + 1
            self.received += count
            return
        self.feed(seqs_in(data))

    def _one(self, seq: int) -> None:
        self.received += 1
        if seq == self.next_seq:
            self.next_seq += 1
        elif seq > self.next_seq:
            self.holes.append((self.next_seq, seq))
            self.next_seq = seq + 1
        elif self._fill(seq):
            self.reordered += 1
        else:
            self.duplicates += 1
            self.received -= 1

    def _fill(self, seq: int) -> bool:
        """Remove ``seq`` from the holes; False if it was not missing (a duplicate)."""
        i = bisect.bisect_right(self.holes, (seq, math.inf)) - 1
        if i < 0:
            return False
        lo, hi = self.holes[i]
        if not lo <= seq < hi:
            return False
        replacement = [(a, b) for a, b in ((lo, seq), (seq + 1, hi)) if a < b]
        self.holes[i : i + 1] = replacement
        return True

    def lost(self, published: int) -> int:
        """Messages of the ``published`` ones this subscriber never received."""
        in_holes = sum(hi - lo for lo, hi in self.holes)
        return in_holes + max(0, published - (self.next_seq - 1))

    def ok(self, published: int, ordered: bool = True) -> bool:
        """Every message exactly once, in order (``ordered``: in publish order; a crowd of
        publishers has no publish order across its connections, only the server's)."""
        return (
            self.duplicates == 0
            and (self.reordered == 0 or not ordered)
            and self.next_seq - 1 == published
            and not self.holes
            and self.received == published
        )


@dataclass
class StreamTally:
    """Stream checks summed over many subscribers: what a worker reports."""

    subscribers: int = 0
    complete: int = 0
    received: int = 0
    lost: int = 0
    duplicates: int = 0
    reordered: int = 0
    examples: list[str] = field(default_factory=list)

    def add(self, name: str, check: StreamCheck, published: int, ordered: bool = True) -> None:
        self.subscribers += 1
        self.received += check.received
        lost = check.lost(published)
        self.lost += lost
        self.duplicates += check.duplicates
        self.reordered += check.reordered
        if check.ok(published, ordered):
            self.complete += 1
        elif len(self.examples) < 5:
            self.examples.append(
                f"{name}: received {check.received}/{published}, lost {lost}, "
                f"doubled {check.duplicates}, out of order {check.reordered}"
            )

    def merge(self, other: StreamTally) -> None:
        self.subscribers += other.subscribers
        self.complete += other.complete
        self.received += other.received
        self.lost += other.lost
        self.duplicates += other.duplicates
        self.reordered += other.reordered
        self.examples.extend(other.examples[: max(0, 5 - len(self.examples))])


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The ``q``-quantile (0..1) of already sorted values, nearest rank; nan when empty."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q * len(sorted_values)))
    return float(sorted_values[min(rank, len(sorted_values)) - 1])


def latency_summary(samples_ns: Iterable[int]) -> dict[str, float]:
    """p50, p99, max (milliseconds) and the sample count of publish-to-receive latencies."""
    values = sorted(samples_ns)
    ms = 1e-6
    return {
        "samples": float(len(values)),
        "p50_ms": percentile(values, 0.50) * ms,
        "p99_ms": percentile(values, 0.99) * ms,
        "max_ms": (values[-1] * ms) if values else math.nan,
    }
