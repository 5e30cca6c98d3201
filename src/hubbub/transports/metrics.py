"""``GET /metrics`` in the Prometheus text exposition format (version 0.0.4).

Served only to client addresses in ``--metrics-allow`` (loopback by default): the counters
say how busy the server is and which refusals it makes, which is nobody else's business.

Under ``--workers`` a scrape lands on any one worker, so each worker keeps its counters in
a file of a directory the parent made (``Settings.metrics_dir``, on tmpfs where there is
one), rewritten every second; the worker answering writes its own first and reads every
worker's, and every series carries a ``worker`` label. Other workers' figures are at most
``SHARE_INTERVAL`` old; ``sum without (worker)`` gives the server's.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections import Counter
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import orjson

from hubbub.address_list import Network, contains, networks_of
from hubbub.admin_access import admin_allowed
from hubbub.auth import token_from
from hubbub.errors import Forbidden
from hubbub.http.answers import Answer
from hubbub.http.head import Request
from hubbub.recorder import Recorder
from hubbub.settings import Settings
from hubbub.stats import LAG_BOUNDS, Stats
from hubbub.transports.http import node_of, principal_of

SHARE_INTERVAL = 1.0


STATS_FIELDS = frozenset(f.name for f in fields(Stats))


@dataclass(slots=True)
class Snapshot:
    """What /metrics says about one node or worker: its counters and its loop's health."""

    stats: Stats
    stall: float = 0.0  # the longest event-loop stall of the last minute, seconds
    gc_seconds: float = 0.0
    gc_collections: int = 0
    busy_stall: float = 0.0  # the same counting only the process's own time (probes.py)
    commit_longest: float = 0.0  # the longest store transaction of the last minute

    @classmethod
    def of(cls, stats: Stats, recorder: Recorder) -> Snapshot:
        return cls(
            stats,
            recorder.longest_stall(),
            recorder.gc.seconds,
            recorder.gc.collections,
            recorder.longest_busy_stall(),
            recorder.longest_commit(),
        )


def stats_from(data: dict[str, Any]) -> Stats:
    """A worker's counters as it wrote them (a field it did not know keeps its zero)."""
    stats = Stats()
    for name, value in data.items():
        if name in STATS_FIELDS:
            setattr(stats, name, Counter(value) if isinstance(value, dict) else value)
    return stats


class SharedStats:
    """One worker's counters in ``DIR/worker-N.json``, and every worker's read back."""

    def __init__(self, directory: str, worker: int, stats: Stats, recorder: Recorder) -> None:
        self.directory = Path(directory)
        self.worker = worker
        self.stats = stats
        self.recorder = recorder
        self._task: asyncio.Task[None] | None = None

    def write(self) -> None:
        """Replace this worker's file at once (a reader never sees half of one)."""
        now = Snapshot.of(self.stats, self.recorder)
        data: dict[str, Any] = {name: getattr(self.stats, name) for name in STATS_FIELDS}
        data["_loop"] = [
            now.stall,
            now.gc_seconds,
            now.gc_collections,
            now.busy_stall,
            now.commit_longest,
        ]
        path = self.directory / f"worker-{self.worker}.json"
        partial = path.with_suffix(".partial")
        partial.write_bytes(orjson.dumps(data))
        os.replace(partial, path)

    def read_all(self) -> list[tuple[int, Snapshot]]:
        """Every worker's figures by number, this one's fresh."""
        self.write()
        found: list[tuple[int, Snapshot]] = []
        for path in self.directory.glob("worker-*.json"):
            try:
                number = int(path.stem.removeprefix("worker-"))
                data: dict[str, Any] = orjson.loads(path.read_bytes())
            except (ValueError, OSError):
                continue  # not one of ours, or gone meanwhile
            # Every file of this fresh directory is this version's: five figures.
            stall, gc_seconds, passes, busy, commit = data.get("_loop", (0.0, 0.0, 0, 0.0, 0.0))
            snapshot = Snapshot(stats_from(data), stall, gc_seconds, int(passes), busy, commit)
            found.append((number, snapshot))
        return sorted(found, key=lambda item: item[0])

    async def _share(self) -> None:
        while True:
            self.write()
            await asyncio.sleep(SHARE_INTERVAL)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._share())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


# One metric: its name, type, help, and samples (series name, labels, value).
Sample = tuple[str, str, str]
Family = tuple[str, str, str, list[Sample]]


def families(snapshot: Snapshot) -> list[Family]:
    """What /metrics says about one node (or worker), in a fixed order."""
    stats = snapshot.stats
    connections = [("hubbub_connections", f'transport="{kind}"', str(stats.streams.get(kind, 0)))
                   for kind in ("ws", "sse")]  # fmt: skip
    connections.append(("hubbub_connections", 'transport="longpoll"', str(stats.waiting)))
    rejected = [
        ("hubbub_rejected_total", f'code="{code}"', str(count))
        for code, count in sorted(stats.rejected.items())
    ]
    refused = [
        (
            "hubbub_connections_refused_total",
            f'reason="{reason}"',
            str(stats.connections_refused.get(reason, 0)),
        )
        for reason in ("max_connections", "max_connections_per_ip", "file_limit")
    ]

    def one(name: str, value: object) -> list[Sample]:
        return [(name, "", str(value))]

    lag = "hubbub_event_loop_lag_seconds"
    lag_samples: list[Sample] = [
        (f"{lag}_bucket", f'le="{bound}"', str(count))
        for bound, count in zip(LAG_BOUNDS, stats.loop_lag_buckets, strict=True)
    ]
    lag_samples += [
        (f"{lag}_bucket", 'le="+Inf"', str(stats.loop_lag_count)),
        (f"{lag}_sum", "", f"{stats.loop_lag_seconds:.6f}"),
        (f"{lag}_count", "", str(stats.loop_lag_count)),
    ]

    return [
        ("hubbub_connections", "gauge", "Open subscriptions by transport.", connections),
        (
            "hubbub_messages_published_total",
            "counter",
            "Messages committed.",
            one("hubbub_messages_published_total", stats.published),
        ),
        (
            "hubbub_messages_delivered_total",
            "counter",
            "Messages queued to live streams.",
            one("hubbub_messages_delivered_total", stats.delivered),
        ),
        (
            "hubbub_publish_seconds",
            "summary",
            "Time from accepting a publish to its commit.",
            [
                ("hubbub_publish_seconds_count", "", str(stats.publish_count)),
                ("hubbub_publish_seconds_sum", "", f"{stats.publish_seconds:.6f}"),
            ],
        ),
        (
            "hubbub_commits_total",
            "counter",
            "Store transactions that committed publishes (group commit:"
            " hubbub_publish_seconds_count / this is the mean batch).",
            one("hubbub_commits_total", stats.commits),
        ),
        (
            "hubbub_commit_seconds_total",
            "counter",
            "Time inside those store transactions (this over hubbub_commits_total is the"
            " mean commit).",
            [("hubbub_commit_seconds_total", "", f"{stats.commit_seconds:.6f}")],
        ),
        (
            "hubbub_commit_longest_seconds",
            "gauge",
            "The longest store transaction of the last minute (every publish queued"
            " meanwhile waits for it).",
            [("hubbub_commit_longest_seconds", "", f"{snapshot.commit_longest:.6f}")],
        ),
        (
            "hubbub_slow_consumers_dropped_total",
            "counter",
            "Streams closed past the outbox limit.",
            one("hubbub_slow_consumers_dropped_total", stats.slow_consumers_dropped),
        ),
        (
            "hubbub_rejected_total",
            "counter",
            "Refused requests and frames by error code.",
            rejected,
        ),
        (
            "hubbub_connections_open",
            "gauge",
            "TCP connections open (admitted under the caps).",
            one("hubbub_connections_open", stats.connections_open),
        ),
        (
            "hubbub_connections_refused_total",
            "counter",
            "Connections refused over a cap, by reason.",
            refused,
        ),
        (
            "hubbub_event_loop_stall_seconds",
            "gauge",
            "The longest event-loop stall of the last minute (how late a 50 ms timer fired).",
            [("hubbub_event_loop_stall_seconds", "", f"{snapshot.stall:.6f}")],
        ),
        (
            "hubbub_event_loop_busy_stall_seconds",
            "gauge",
            "The longest stall of the last minute counting only time the process itself could"
            " have run (at most its CPU time since the timer was set; the rest of a stall is"
            " the machine giving the core to others).",
            [("hubbub_event_loop_busy_stall_seconds", "", f"{snapshot.busy_stall:.6f}")],
        ),
        (
            lag,
            "histogram",
            "How late the event loop's 50 ms timer fired, every firing since start (stalls"
            ' over 10 ms: _count less the le="0.01" bucket).',
            lag_samples,
        ),
        (
            "hubbub_gc_seconds_total",
            "counter",
            "Time spent in garbage collection (gc.callbacks).",
            [("hubbub_gc_seconds_total", "", f"{snapshot.gc_seconds:.6f}")],
        ),
        (
            "hubbub_gc_collections_total",
            "counter",
            "Garbage collections.",
            one("hubbub_gc_collections_total", snapshot.gc_collections),
        ),
    ]


def render(stats: Stats, recorder: Recorder) -> str:
    """One process's /metrics."""
    return render_workers([("", Snapshot.of(stats, recorder))])


def render_workers(workers: list[tuple[str, Snapshot]]) -> str:
    """Several sources' samples under one HELP and TYPE per metric, each sample with its
    source's label (``worker="N"``; none for a single process)."""
    described = [(label, families(snapshot)) for label, snapshot in workers]
    lines: list[str] = []
    for index, (name, kind, text, _) in enumerate(described[0][1]):
        lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
        for label, metrics_of in described:
            for series, labels, value in metrics_of[index][3]:
                inside = ",".join(part for part in (labels, label) if part)
                lines.append(f"{series}{{{inside}}} {value}" if inside else f"{series} {value}")
    return "\n".join(lines) + "\n"


class MetricsRoute:
    """``GET /metrics``: who may read it, and every worker's counters under ``--workers``."""

    __slots__ = ("allowed", "shared")

    def __init__(self, settings: Settings, stats: Stats, recorder: Recorder) -> None:
        self.allowed: tuple[Network, ...] = networks_of(settings.metrics_allow)
        self.shared: SharedStats | None = None
        if settings.metrics_dir is not None and settings.worker is not None:
            self.shared = SharedStats(settings.metrics_dir, settings.worker, stats, recorder)

    def start(self) -> None:
        if self.shared is not None:
            self.shared.start()

    async def stop(self) -> None:
        if self.shared is not None:
            await self.shared.stop()

    def allows(self, request: Request) -> bool:
        """A client address in ``--metrics-allow``, or, with access control on, a token
        whose ``admin`` claim is true (``admin_allowed``; a refused token is ``401``).
        Without tokens the address list alone decides (its default, loopback, is also
        the admin routes' rule then)."""
        if contains(self.allowed, request.peer):
            return True
        node = node_of(request)
        if not node.access.enabled or token_from(request.headers, request.query) is None:
            return False
        return admin_allowed(principal_of(request), request.peer, True)

    def __call__(self, request: Request) -> Answer:
        """Refused (403) to an address outside ``--metrics-allow``."""
        node = node_of(request)
        if not self.allows(request):
            raise Forbidden(
                "/metrics is served only to the addresses of --metrics-allow, or to a token "
                "with the admin claim"
            )
        if self.shared is None:
            text = render(node.stats, node.recorder)
        else:
            text = render_workers([(f'worker="{n}"', snap) for n, snap in self.shared.read_all()])
        return Answer(200, text.encode(), content_type="text/plain; charset=utf-8", no_store=True)
