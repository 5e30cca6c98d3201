"""Latencies counted in logarithmic buckets: cheap to record, mergeable across nodes.

A bucket is a range of microseconds: exact below 8 µs, then four buckets per doubling
(8-9, 10-11, 12-13, 14-15, 16-19, ...), so a percentile read from the counts is within
25% of the true value. Counts from several seconds or several nodes add bucket by bucket,
which percentiles themselves cannot.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

EXACT = 8  # buckets 0..7 hold 0..7 µs exactly
PER_DOUBLING = 4
# Up to 2**31 µs (about 36 minutes); anything longer lands in the last bucket.
LARGEST_BITS = 31
BUCKETS = EXACT + (LARGEST_BITS - 3) * PER_DOUBLING


def bucket_of(seconds: float) -> int:
    """The bucket a latency of ``seconds`` is counted in (negative counts as 0)."""
    micros = int(seconds * 1_000_000)
    if micros < EXACT:
        return max(micros, 0)
    bits = micros.bit_length()
    if bits > LARGEST_BITS:
        return BUCKETS - 1
    # The two bits after the leading one pick the quarter of the doubling.
    return EXACT + (bits - 4) * PER_DOUBLING + ((micros >> (bits - 3)) & 3)


def bucket_upper(index: int) -> float:
    """The upper bound of bucket ``index``, in seconds (what a percentile reports)."""
    if index < EXACT:
        return (index + 1) / 1_000_000
    bits, quarter = divmod(index - EXACT, PER_DOUBLING)
    return ((5 + quarter) << (bits + 1)) / 1_000_000


def new_counts() -> list[int]:
    return [0] * BUCKETS


# A batch of more publishes than this is counted in this many groups (below).
GROUPS = 8


def record(counts: list[int], seconds: Iterable[float]) -> None:
    """Count each latency of ``seconds`` into ``counts`` (a list of :data:`BUCKETS`)."""
    for value in seconds:
        counts[bucket_of(value)] += 1


def record_batch(counts: list[int], now: float, accepted: Sequence[float]) -> None:
    """Count the latencies ``now - a`` of a batch whose times ``accepted`` are in order.

    Every message counts, but a batch of more than :data:`GROUPS` is cut into that many
    runs of consecutive publishes, each counted at its middle one's latency: a run was
    accepted within the time the batch waited, and the cost stays a few microseconds per
    batch however large (a bucket costs about half a microsecond a message otherwise).
    """
    size = len(accepted)
    if size <= GROUPS:
        for at in accepted:
            counts[bucket_of(now - at)] += 1
        return
    for group in range(GROUPS):
        start = group * size // GROUPS
        end = (group + 1) * size // GROUPS
        counts[bucket_of(now - accepted[(start + end) // 2])] += end - start


def difference(now: Sequence[int], before: Sequence[int]) -> dict[int, int]:
    """What was counted between two readings of cumulative counts, as {bucket: count}
    without the empty buckets (a second of samples is sparse)."""
    return {index: n - b for index, (n, b) in enumerate(zip(now, before, strict=True)) if n != b}


def add(into: dict[int, int], counts: dict[int, int]) -> None:
    for index, count in counts.items():
        into[index] = into.get(index, 0) + count


def percentile(counts: dict[int, int], fraction: float) -> float | None:
    """The upper bound of the bucket holding the ``fraction`` quantile; None if empty."""
    total = sum(counts.values())
    if total <= 0:
        return None
    rank = fraction * total
    seen = 0
    for index in sorted(counts):
        seen += counts[index]
        if seen >= rank:
            return bucket_upper(index)
    return bucket_upper(max(counts))
