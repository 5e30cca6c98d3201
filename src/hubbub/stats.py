"""Counters the node keeps for ``/metrics``, the operations page and the benchmark."""

from __future__ import annotations

import time
from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass, field

from hubbub.ops import histogram

# Upper bounds of the buckets of how late the event loop's probe timer fired, seconds
# (/metrics: hubbub_event_loop_lag_seconds). 10 ms is issue 19's bar for a stall.
LAG_BOUNDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


@dataclass(slots=True)
class Stats:
    """Plain integers: incremented on the hot path, read rarely."""

    published: int = 0
    delivered: int = 0
    waiting: int = 0
    slow_consumers_dropped: int = 0
    publish_count: int = 0
    publish_seconds: float = 0.0
    commits: int = 0  # store transactions (publish_count / commits: the mean batch)
    commit_seconds: float = 0.0  # time inside those transactions
    commit_longest: float = 0.0  # the longest of them since the recorder last took it
    streams: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)
    connections_open: int = 0  # TCP connections admitted and still open
    connections_limit: int = 0  # the cap they are admitted under (0 until listening)
    connections_refused: Counter[str] = field(default_factory=Counter)  # by reason
    # Messages committed per room since the operations recorder last took them
    room_messages: Counter[str] = field(default_factory=Counter)
    # Publish-to-delivery latencies, cumulative counts per histogram bucket (ops/histogram.py)
    delivery_latency: list[int] = field(default_factory=histogram.new_counts)
    # How late the loop-lag probe's timer fired, every firing since start: counts at or
    # under each of LAG_BOUNDS (cumulative, as Prometheus' ``le``), how many, their sum.
    loop_lag_buckets: list[int] = field(default_factory=lambda: [0] * len(LAG_BOUNDS))
    loop_lag_count: int = 0
    loop_lag_seconds: float = 0.0

    def count_stream(self, kind: str, delta: int) -> None:
        self.streams[kind] += delta

    def record_delivery(self, accepted: list[float]) -> None:
        """Count the latency of publishes accepted at ``accepted`` (``perf_counter``
        times) whose messages were just written to this node's streams."""
        histogram.record_batch(self.delivery_latency, time.perf_counter(), accepted)

    def count_loop_lag(self, late: float) -> None:
        """Count one firing of the loop-lag probe, ``late`` seconds after it was due."""
        self.loop_lag_count += 1
        self.loop_lag_seconds += late
        buckets = self.loop_lag_buckets
        for index in range(bisect_left(LAG_BOUNDS, late), len(LAG_BOUNDS)):
            buckets[index] += 1
