"""Counters the node keeps for ``/metrics`` and the benchmark."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


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
    streams: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)
    connections_open: int = 0  # TCP connections admitted and still open
    connections_refused: Counter[str] = field(default_factory=Counter)  # by reason

    def count_stream(self, kind: str, delta: int) -> None:
        self.streams[kind] += delta
