"""The last 15 minutes of every node's samples, and of the whole server's. Pure.

Each node adds its own sample once a second and those the other nodes publish
(``exchange.py``). At each of its own seconds it merges the previous second of every node
into the whole server's: one second behind, so that the other nodes' samples of that
second have arrived (their clocks within a second of this one's), and each node's second
is counted once, never its newest sample twice nor one skipped. The page served by any
node shows all of them, each named. Rings are bounded deques: 900 samples per node,
whatever the uptime.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from hubbub.ops.sample import Sample, limits_view, merge, rooms_view, view

HISTORY = 15 * 60  # seconds kept
# A node whose newest sample is older than this is left out of the whole server's
# second (it stopped, or its samples stopped arriving) and shown as silent.
FRESH = 3
WHOLE = "all"  # the whole server's ring


@dataclass(frozen=True, slots=True)
class NodeState:
    name: str
    live: bool
    last: Sample


class Cluster:
    """Per-node rings and the merged ring, for one node's view of the whole server."""

    def __init__(self, local: str, history: int = HISTORY) -> None:
        self.local = local
        self.history = history
        self.rings: dict[str, deque[Sample]] = {}
        self.whole: deque[Sample] = deque(maxlen=history)

    def add(self, sample: Sample) -> None:
        """Keep a node's sample (a repeat or an older second than its newest is dropped)."""
        ring = self.rings.get(sample.node)
        if ring is None:
            ring = self.rings[sample.node] = deque(maxlen=self.history)
        if ring and ring[-1].t >= sample.t:
            return
        ring.append(sample)

    def nodes(self, t: int) -> Iterator[NodeState]:
        """Every node heard from in the kept history, by name, newest sample and liveness."""
        for name in sorted(self.rings):
            ring = self.rings[name]
            if ring:
                yield NodeState(name, t - ring[-1].t <= FRESH, ring[-1])

    def second(self, name: str, t: int) -> Sample | None:
        """Node ``name``'s sample of second ``t``, if it arrived."""
        for sample in reversed(self.rings.get(name, ())):
            if sample.t <= t:
                return sample if sample.t == t else None
        return None

    def tick(self, t: int) -> Sample:
        """At second ``t``: the whole server's second ``t - 1``, from every node's sample
        of that second; nodes silent for the whole history are forgotten."""
        for name in [name for name, ring in self.rings.items() if t - ring[-1].t > self.history]:
            del self.rings[name]
        target = t - 1
        found = [self.second(name, target) for name in sorted(self.rings)]
        whole = merge(WHOLE, target, [sample for sample in found if sample is not None])
        if not self.whole or self.whole[-1].t < target:
            self.whole.append(whole)
        return whole

    def update(self, whole: Sample) -> dict[str, Any]:
        """The stream's event for a second: the whole server's point, each node's point
        of the same second (its newest if that one is missing), the busiest rooms, and
        each node's limits."""
        nodes = list(self.nodes(whole.t + 1))
        return {
            "t": whole.t,
            "whole": view(whole),
            "rooms": rooms_view(whole),
            "nodes": [
                {
                    "node": state.name,
                    "live": state.live,
                    "local": state.name == self.local,
                    "point": view(self.second(state.name, whole.t) or state.last),
                    "limits": limits_view(state.last),
                }
                for state in nodes
            ],
        }

    def history_event(self) -> dict[str, Any]:
        """What a viewer gets first: the kept history, the whole server's and each node's."""
        return {
            "history": self.history,
            "whole": [view(sample) for sample in self.whole],
            "nodes": {name: [view(sample) for sample in ring] for name, ring in self.rings.items()},
        }
