"""Counters the node keeps for ``/metrics``, the operations page and the benchmark."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

from hubbub.ops import histogram


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

    def count_stream(self, kind: str, delta: int) -> None:
        self.streams[kind] += delta

    def record_delivery(self, accepted: list[float]) -> None:
        """Count the latency of publishes accepted at ``accepted`` (``perf_counter``
        times) whose messages were just written to this node's streams."""
        histogram.record_batch(self.delivery_latency, time.perf_counter(), accepted)
