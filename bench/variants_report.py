"""The report's sections on hubbub's variants: several processes through Redis (issue 10)
and the levers of issue 13 (SQLite sync mode, GC tuning, Python version).

Each row puts a variant's median beside the plain server's, from runs of the same suite
that alternated between them, and their ratio; a figure with no usable run shows "—".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench.compare import k, table, usable
from bench.servers import SERVERS
from bench.stats import spread_text
from bench.targets import per_delivery_us

Run = dict[str, Any]
Get = Callable[[Run], Any]


def _dps(run: Run) -> Any:
    return run.get("deliveries_per_s")


def _acks(run: Run) -> Any:
    return run.get("acks_per_s")


def _p99(run: Run) -> Any:
    return run.get("latency", {}).get("p99_ms")


def _cell(fig: Run | None, get: Get, unit: str) -> str:
    if fig is None or not usable(fig):
        return "—"
    value = get(fig)
    if not isinstance(value, int | float):
        return "—"
    if unit == "k":
        return k(value) + spread_text(fig, "deliveries_per_s", 1e-3, 0)
    if unit == "acks":
        return f"{value:,.0f}" + spread_text(fig, "acks_per_s", 1.0, 0)
    return f"{value:,.1f} {unit}"


def _pairs(
    by_key: dict[str, Run], rows: list[tuple[str, str, Get, str]], pairs: list[tuple[str, str]]
) -> list[list[str]]:
    out = []
    for title, pattern, get, unit in rows:
        for base, variant in pairs:
            a, b = by_key.get(pattern.format(s=base)), by_key.get(pattern.format(s=variant))
            if a is None and b is None:
                continue
            va = get(a) if a and usable(a) else None
            vb = get(b) if b and usable(b) else None
            ratio = f"{vb / va:.2f}x" if isinstance(va, int | float) and va and vb else "—"
            cpu = "/".join(
                f"{f.get('server_cpu', 0):.2f}" if f and usable(f) else "—" for f in (a, b)
            )
            out.append(
                [
                    title,
                    f"{SERVERS[base].label} → {SERVERS[variant].label}",
                    _cell(a, get, unit),
                    _cell(b, get, unit),
                    ratio,
                    cpu,
                ]
            )
    return out


_HEAD = ["measure", "from → to", "from", "to", "to / from", "server CPU (cores)"]
_PUB = "publish/{s}/ws/n0/r8/closed/"


def scale_section(figures: list[Run]) -> list[str]:
    by_key = {r["key"]: r for r in figures if "key" in r}
    rows: list[tuple[str, str, Get, str]] = [
        ("WS fan-out to 1,000, flooded, deliveries/s", "fanout/{s}/ws/n1000/r1/flood/http/d8",
         _dps, "k"),
        ("WS fan-out to 10,000, flooded, deliveries/s", "fanout/{s}/ws/n10000/r1/flood/http/d8",
         _dps, "k"),
        ("acknowledged publishes/s, HTTP 64 x 1", _PUB + "http/64x1", _acks, "acks"),
        ("acknowledged publishes/s, wrk 64 x 1", _PUB + "wrk/64x1", _acks, "acks"),
        ("acknowledged publishes/s, WS 8 x 8", _PUB + "ws/8x8", _acks, "acks"),
    ]  # fmt: skip
    pairs = [
        ("hubbub-sqlite", "hubbub-w2"),
        ("hubbub-sqlite", "hubbub-redis"),
        ("hubbub-redis", "hubbub-redis-w2"),
    ]
    body = _pairs(by_key, rows, pairs)
    if not body:
        return []
    return [
        "### Several processes through Redis (`--workers 2`, `--store redis`)",
        "",
        "Medians (min-max) of runs that alternated between the four servers. Two workers "
        "run on both cores, the generator's too, and Redis (append-only, fsync always) on "
        "the server's cores with its CPU counted as the server's: server CPU above 1.0 is "
        "two cores in use.",
        "",
        table(_HEAD, body),
        "",
    ]


def _per_poll(run: Run) -> Any:
    return per_delivery_us(run)


def levers_section(figures: list[Run]) -> list[str]:
    by_key = {r["key"]: r for r in figures if "key" in r}
    poll = "fanout/{s}/longpoll/n1000/r1/paced/100/http/d8"
    ws = "fanout/{s}/ws/n1000/r1/paced/1000/ws/d8"
    rows: list[tuple[str, str, Get, str]] = [
        ("long poll 1,000 at 100 msg/s: deliveries/s", poll, _dps, "k"),
        ("long poll: µs server CPU per delivered message", poll, _per_poll, "µs"),
        ("long poll: p99", poll, _p99, "ms"),
        ("WS 1,000 at 1,000 msg/s (WS publisher): p99", ws, _p99, "ms"),
    ]
    variants = ("hubbub-gc-off", "hubbub-py312", "hubbub-py313")
    pairs = [("hubbub", v) for v in variants]
    body = _pairs(by_key, rows, pairs)
    sync_rows: list[tuple[str, str, Get, str]] = [
        ("acknowledged publishes/s, HTTP 64 x 1", _PUB + "http/64x1", _acks, "acks"),
        ("acknowledged publishes/s, wrk 64 x 1", _PUB + "wrk/64x1", _acks, "acks"),
        ("acknowledged publishes/s, WS 8 x 8", _PUB + "ws/8x8", _acks, "acks"),
    ]
    sync_pairs = [("hubbub-sqlite", "hubbub-sqlite-normal")]
    body += _pairs(by_key, sync_rows, sync_pairs)
    if not body:
        return []
    return [
        "### Levers: GC tuning, Python version, SQLite synchronous mode",
        "",
        "Each variant against the plain server, in runs that alternated between them. "
        "µs per delivered message is the server's CPU time over the messages it delivered; a "
        "poll answer carries one message or more, so per poll it is at least that.",
        "",
        table(_HEAD, body),
        "",
    ]
