"""Medians of repeated runs, with their spread: the figures the report publishes.

The suite runs every measurement at least three times, alternating servers, and keeps
every run in the results. A published figure is the median of the usable runs of one
key (same scenario, server, transport, rate, publisher and depth) with its min-max
spread. Failed, skipped and generator-bound runs are counted but never used.
"""

from __future__ import annotations

import copy
import statistics
from dataclasses import dataclass
from typing import Any

Run = dict[str, Any]

# Figures taken as medians: (path into a run record).
METRICS: tuple[tuple[str, ...], ...] = (
    ("deliveries_per_s",),
    ("publish_rate",),
    ("latency", "p50_ms"),
    ("latency", "p99_ms"),
    ("latency", "max_ms"),
    ("acks_per_s",),
    ("ack_latency", "p50_ms"),
    ("ack_latency", "p99_ms"),
    ("server_cpu",),
    ("generator_cpu",),
    ("generator_cpu_max_process",),
    ("bytes_per_connection",),
    ("drain_lag_s",),
)


@dataclass(frozen=True)
class Spread:
    median: float
    low: float
    high: float
    n: int


def median_spread(values: list[float]) -> Spread | None:
    """Median and min-max of ``values`` (NaN and None left out); None when there are none."""
    clean = [float(v) for v in values if isinstance(v, int | float) and v == v]
    if not clean:
        return None
    return Spread(statistics.median(clean), min(clean), max(clean), len(clean))


def unusable(run: Run) -> str:
    """Why a run may not be used for a figure or a ratio ("" when it may)."""
    if "skipped" in run:
        return f"skipped: {run['skipped']}"
    if "failure" in run:
        return "failed"
    if run.get("generator_bound"):
        return "generator-bound"
    return ""


def _get(run: Run, path: tuple[str, ...]) -> Any:
    value: Any = run
    for part in path:
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _put(run: Run, path: tuple[str, ...], value: float) -> None:
    target = run
    for part in path[:-1]:
        target = target.setdefault(part, {})
    target[path[-1]] = value


def _streams(runs: list[Run]) -> dict[str, int]:
    total: dict[str, int] = {}
    for run in runs:
        for name, count in run.get("streams", {}).items():
            if isinstance(count, int):
                total[name] = total.get(name, 0) + count
    return total


def figure(runs: list[Run]) -> Run:
    """One published figure from the runs of one key (in run order)."""
    usable = [r for r in runs if not unusable(r)]
    excluded = [unusable(r) for r in runs if unusable(r)]
    if not usable:
        out = copy.deepcopy(runs[-1])
        out.update(runs_used=0, excluded=excluded, spread={})
        return out
    out = copy.deepcopy(usable[0])
    spread: dict[str, list[float]] = {}
    for path in METRICS:
        s = median_spread([_get(r, path) for r in usable])
        if s is not None:
            _put(out, path, s.median)
            spread[".".join(path)] = [s.low, s.high]
    if any("streams" in r for r in usable):
        out["streams"] = _streams(usable)  # every stream of every run, summed
    out["sustained"] = all(r.get("sustained", True) for r in usable)
    aborted = next(
        (r["publish"]["aborted"] for r in usable if r.get("publish", {}).get("aborted")), ""
    )
    if "publish" in out:
        out["publish"]["aborted"] = aborted
    out.update(runs_used=len(usable), excluded=excluded, spread=spread)
    return out


def figures(runs: list[Run]) -> list[Run]:
    """One figure per key, in the order the keys first ran."""
    groups: dict[str, list[Run]] = {}
    for run in runs:
        if "key" in run:
            groups.setdefault(run["key"], []).append(run)
    return [figure(group) for group in groups.values()]


def spread_text(run: Run, path: str, scale: float = 1.0, digits: int = 1) -> str:
    """ " (min-max)" for a figure's metric, or "" with a single run."""
    low_high = run.get("spread", {}).get(path)
    if not low_high or run.get("runs_used", 0) < 2:
        return ""
    low, high = (v * scale for v in low_high)
    return f" ({low:,.{digits}f}-{high:,.{digits}f})"
