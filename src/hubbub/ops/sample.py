"""One node's second: counters read twice, the difference as a :class:`Sample`. Pure.

The node keeps cumulative counters (``stats.py``); once a second the recorder reads them
into :class:`Counters` and :func:`take_sample` turns the difference from the previous
reading into a sample. Samples travel between nodes as JSON (:meth:`Sample.to_wire`,
:func:`sample_from_wire`), add up into the whole server's (:func:`merge`), and become what
the page plots (:func:`view`).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hubbub.ops import histogram

# Rooms a sample names: the busiest, by messages per second then subscribers.
BUSIEST_ROOMS = 10
TRANSPORTS = ("ws", "ws-multi", "sse", "longpoll", "tcp")


@dataclass(frozen=True, slots=True)
class Counters:
    """A reading of a node's cumulative counters (each only ever grows)."""

    published: int = 0
    delivered: int = 0
    publish_count: int = 0  # publishes committed (the batches' sizes add up to this)
    commits: int = 0
    commit_seconds: float = 0.0  # time inside store transactions
    slow_consumers_dropped: int = 0
    refused: Mapping[str, int] = field(default_factory=dict)
    latency: Sequence[int] = field(default_factory=histogram.new_counts)
    gc_seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class RoomRow:
    """A room as the busiest-rooms table shows it."""

    name: str
    messages: float  # per second
    subscribers: int  # live streams and held long polls
    present: int  # people present (named users and anonymous connections)


@dataclass(frozen=True, slots=True)
class Limit:
    """How much of one limit the node uses; ``limit`` None when there is none."""

    name: str  # connections, files, rooms, memory
    used: int
    limit: int | None

    @property
    def fraction(self) -> float | None:
        if self.limit is None or self.limit <= 0:
            return None
        return self.used / self.limit


@dataclass(frozen=True, slots=True)
class Sample:
    """What one node (or, merged, the whole server) did in one second."""

    node: str
    t: int  # the Unix second this sample ends at
    span: float  # seconds it covers (about 1)
    connections: Mapping[str, int]  # open now, by transport, and TCP connections
    messages: int  # committed
    deliveries: int  # message frames queued to live streams
    latency: Mapping[int, int]  # publish-to-delivery, histogram buckets
    commits: int  # store transactions
    committed: int  # publishes in those transactions (committed / commits: the batch)
    commit_seconds: float
    slow_consumers: int  # streams dropped past their outbox limit
    refused: Mapping[str, int]  # refusals by code
    stall: float  # the longest event-loop stall, seconds
    gc: float  # seconds spent collecting garbage
    rooms: tuple[RoomRow, ...] = ()
    limits: tuple[Limit, ...] = ()

    def to_wire(self) -> dict[str, Any]:
        """A JSON-ready dict (the form nodes publish to each other)."""
        return {
            "node": self.node,
            "t": self.t,
            "span": self.span,
            "connections": dict(self.connections),
            "messages": self.messages,
            "deliveries": self.deliveries,
            "latency": [[index, count] for index, count in sorted(self.latency.items())],
            "commits": self.commits,
            "committed": self.committed,
            "commit_seconds": self.commit_seconds,
            "slow_consumers": self.slow_consumers,
            "refused": dict(self.refused),
            "stall": self.stall,
            "gc": self.gc,
            "rooms": [[r.name, r.messages, r.subscribers, r.present] for r in self.rooms],
            "limits": [[lim.name, lim.used, lim.limit] for lim in self.limits],
        }


def _counts(value: object, what: str) -> dict[str, int]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, int) for k, v in value.items()
    ):
        raise ValueError(f"{what} must map names to integers")
    return value


def sample_from_wire(data: object) -> Sample:
    """The sample another node published; ValueError if it is not one."""
    if not isinstance(data, dict):
        raise ValueError("a sample is a JSON object")
    try:
        return Sample(
            node=str(data["node"]),
            t=int(data["t"]),
            span=float(data["span"]),
            connections=_counts(data["connections"], "connections"),
            messages=int(data["messages"]),
            deliveries=int(data["deliveries"]),
            latency={int(index): int(count) for index, count in data["latency"]},
            commits=int(data["commits"]),
            committed=int(data["committed"]),
            commit_seconds=float(data["commit_seconds"]),
            slow_consumers=int(data["slow_consumers"]),
            refused=_counts(data["refused"], "refused"),
            stall=float(data["stall"]),
            gc=float(data["gc"]),
            rooms=tuple(
                RoomRow(str(name), float(messages), int(subscribers), int(present))
                for name, messages, subscribers, present in data["rooms"]
            ),
            limits=tuple(
                Limit(str(name), int(used), None if limit is None else int(limit))
                for name, used, limit in data["limits"]
            ),
        )
    except (KeyError, TypeError) as exc:
        raise ValueError(f"not a sample: {exc!r}") from None


def _difference(now: Mapping[str, int], before: Mapping[str, int]) -> dict[str, int]:
    return {
        key: count - before.get(key, 0) for key, count in now.items() if count != before.get(key, 0)
    }


def take_sample(
    node: str,
    t: int,
    span: float,
    before: Counters,
    now: Counters,
    *,
    connections: Mapping[str, int],
    stall: float,
    rooms: tuple[RoomRow, ...] = (),
    limits: tuple[Limit, ...] = (),
) -> Sample:
    """The sample of the ``span`` seconds between two readings of the counters."""
    return Sample(
        node=node,
        t=t,
        span=span,
        connections=dict(connections),
        messages=now.published - before.published,
        deliveries=now.delivered - before.delivered,
        latency=histogram.difference(now.latency, before.latency),
        commits=now.commits - before.commits,
        committed=now.publish_count - before.publish_count,
        commit_seconds=max(0.0, now.commit_seconds - before.commit_seconds),
        slow_consumers=now.slow_consumers_dropped - before.slow_consumers_dropped,
        refused=_difference(now.refused, before.refused),
        stall=stall,
        gc=max(0.0, now.gc_seconds - before.gc_seconds),
        rooms=rooms,
        limits=limits,
    )


def busiest_rooms(
    messages: Mapping[str, int],
    subscribers: Mapping[str, int],
    span: float,
    count: int = BUSIEST_ROOMS,
) -> tuple[RoomRow, ...]:
    """The ``count`` busiest of the rooms that had messages committed here or have
    subscribers here: most messages, then most subscribers (presence is filled in later,
    only for these). Rows are built for those shown only: there may be many rooms."""
    names = messages.keys() | subscribers.keys()
    top = heapq.nlargest(count, ((messages.get(n, 0), subscribers.get(n, 0), n) for n in names))
    per_second = 1.0 / span if span > 0 else 1.0
    return tuple(RoomRow(n, m * per_second, subs, 0) for m, subs, n in top if m or subs)


def busiest(rows: Iterable[RoomRow], count: int = BUSIEST_ROOMS) -> tuple[RoomRow, ...]:
    """The ``count`` busiest rooms: most messages per second, then most subscribers."""
    return tuple(heapq.nlargest(count, rows, key=lambda r: (r.messages, r.subscribers, r.name)))


def merge(node: str, t: int, samples: Sequence[Sample]) -> Sample:
    """The whole server's second from each node's: counts add up, the stall is the longest.

    Each message is committed by one node, so a room's messages per second and its
    subscribers add up; its presence, already the union over nodes with Redis, is the
    largest any node saw. Limits stay per node (a process's own).
    """
    latency: dict[int, int] = {}
    connections: dict[str, int] = {}
    refused: dict[str, int] = {}
    rooms: dict[str, RoomRow] = {}
    for sample in samples:
        histogram.add(latency, dict(sample.latency))
        for key, count in sample.connections.items():
            connections[key] = connections.get(key, 0) + count
        for key, count in sample.refused.items():
            refused[key] = refused.get(key, 0) + count
        for row in sample.rooms:
            seen = rooms.get(row.name)
            if seen is not None:
                row = RoomRow(
                    row.name,
                    row.messages + seen.messages,
                    row.subscribers + seen.subscribers,
                    max(row.present, seen.present),
                )
            rooms[row.name] = row
    return Sample(
        node=node,
        t=t,
        span=max((s.span for s in samples), default=1.0),
        connections=connections,
        messages=sum(s.messages for s in samples),
        deliveries=sum(s.deliveries for s in samples),
        latency=latency,
        commits=sum(s.commits for s in samples),
        committed=sum(s.committed for s in samples),
        commit_seconds=sum(s.commit_seconds for s in samples),
        slow_consumers=sum(s.slow_consumers for s in samples),
        refused=refused,
        stall=max((s.stall for s in samples), default=0.0),
        gc=sum(s.gc for s in samples),
        rooms=busiest(rooms.values()),
    )


def _rounded(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def view(sample: Sample) -> dict[str, Any]:
    """One point of the page's plots: rates per second, milliseconds, no histogram."""
    span = sample.span if sample.span > 0 else 1.0
    p50 = histogram.percentile(dict(sample.latency), 0.50)
    p99 = histogram.percentile(dict(sample.latency), 0.99)
    commits = sample.commits
    return {
        "t": sample.t,
        "connections": {kind: sample.connections.get(kind, 0) for kind in TRANSPORTS},
        "messages": round(sample.messages / span, 2),
        "deliveries": round(sample.deliveries / span, 2),
        "p50_ms": _rounded(None if p50 is None else p50 * 1000),
        "p99_ms": _rounded(None if p99 is None else p99 * 1000),
        "commit_ms": _rounded(sample.commit_seconds / commits * 1000) if commits else None,
        "batch": round(sample.committed / commits, 2) if commits else None,
        "slow_consumers": sample.slow_consumers,
        "refused": dict(sorted(sample.refused.items())),
        "stall_ms": round(sample.stall * 1000, 3),
        "gc_ms": round(sample.gc * 1000, 3),
    }


def rooms_view(sample: Sample) -> list[dict[str, Any]]:
    return [
        {
            "room": r.name,
            "messages": round(r.messages, 2),
            "subscribers": r.subscribers,
            "present": r.present,
        }
        for r in sample.rooms
    ]


def limits_view(sample: Sample) -> list[dict[str, Any]]:
    return [
        {
            "limit": lim.name,
            "used": lim.used,
            "of": lim.limit,
            "fraction": _rounded(lim.fraction, 4),
        }
        for lim in sample.limits
    ]
