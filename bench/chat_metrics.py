"""What ``bench.chat`` reads of hubbub's ``GET /metrics``: the loop's figures, the commits,
and the loop-lag histogram, summed or maxed over ``--workers``."""

from __future__ import annotations

import asyncio
import contextlib

from bench import http1


def metric_samples(text: str, name: str) -> list[float]:
    """Every sample of metric ``name`` in a Prometheus text exposition, whatever its labels
    (``serve --workers N`` labels each worker's own, ``{worker="1"}``)."""
    values: list[float] = []
    for line in text.splitlines():
        sample, _, value = line.partition(" ")
        if sample == name or sample.startswith(name + "{"):
            with contextlib.suppress(ValueError):
                values.append(float(value.split()[0]))
    return values


LoopFigures = tuple[float | None, float | None, float | None]


def loop_figures(text: str) -> LoopFigures:
    """The longest loop stall of any worker, the same counting only the time it ran
    itself (the rest: the machine gave its core to others), and the collector's seconds
    of all of them."""
    stalls = metric_samples(text, "hubbub_event_loop_stall_seconds")
    busy = metric_samples(text, "hubbub_event_loop_busy_stall_seconds")
    collector = metric_samples(text, "hubbub_gc_seconds_total")
    return (
        max(stalls) if stalls else None,
        max(busy) if busy else None,
        sum(collector) if collector else None,
    )


CommitFigures = tuple[float, float, float, float]


def commit_counts(text: str) -> CommitFigures:
    """Store transactions that committed publishes, the publishes in them and the seconds
    inside them, summed over the workers (ratios: messages a commit, the mean commit),
    and the longest transaction of the last minute of any worker."""
    commits = metric_samples(text, "hubbub_commits_total")
    committed = metric_samples(text, "hubbub_publish_seconds_count")
    seconds = metric_samples(text, "hubbub_commit_seconds_total")
    longest = metric_samples(text, "hubbub_commit_longest_seconds")
    return sum(commits), sum(committed), sum(seconds), max(longest, default=0.0)


LagCounts = dict[str, float]


def lag_counts(text: str) -> LagCounts:
    """The loop-lag histogram's cumulative counts by ``le`` bound (``+Inf``: all of
    them), summed over the workers."""
    counts: LagCounts = {}
    prefix = "hubbub_event_loop_lag_seconds_bucket{"
    for line in text.splitlines():
        if line.startswith(prefix):
            labels, _, value = line[len(prefix) :].partition("} ")
            le = dict(part.split("=", 1) for part in labels.split(","))["le"].strip('"')
            counts[le] = counts.get(le, 0.0) + float(value)
    return counts


def lag_in_window(start: LagCounts, end: LagCounts) -> tuple[int, float | None]:
    """Between two scrapes: the stalls over 10 ms, and the smallest bound every firing was
    within, in ms (None past the largest finite bound, or without the histogram)."""
    if not end or "+Inf" not in end:
        return 0, None
    fired = end["+Inf"] - start.get("+Inf", 0.0)

    def over(le: str) -> float:
        return fired - (end.get(le, 0.0) - start.get(le, 0.0))

    bounds = sorted((float(le), le) for le in end if le != "+Inf")
    within = next((bound * 1000 for bound, le in bounds if over(le) == 0), None)
    return int(over("0.01")), within


ServerFigures = tuple[LoopFigures, CommitFigures, LagCounts]


async def server_metrics(port: int) -> ServerFigures:
    """hubbub's ``GET /metrics`` (open to loopback by default), read to its end: the
    loop's figures, the commit counts and the loop-lag histogram."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(http1.get("127.0.0.1", "/metrics", "Connection: close\r\n"))
        raw = await asyncio.wait_for(reader.read(), 10.0)
    finally:
        writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise OSError(f"/metrics answered {head[:40]!r}")
    text = body.decode()
    return loop_figures(text), commit_counts(text), lag_counts(text)
