"""The report's comparisons between servers: ratios and each server's depth curve.

Both read the published figures (medians of the usable runs, ``bench.stats``): a ratio
is taken only between figures of the same key but for the server (same transport, rate,
publisher kind and depth), and only where both have usable runs, so no generator-bound,
failed or skipped run ever enters one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench.scenarios import CROWDS, DEPTHS
from bench.servers import SERVERS
from bench.stats import spread_text

Run = dict[str, Any]
LABELS = {name: spec.label for name, spec in SERVERS.items()}


def table(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def k(value: Any) -> str:
    """Deliveries per second, compact: 1.23M, 456k."""
    if not isinstance(value, int | float) or value != value:
        return "—"
    return f"{value / 1e6:.2f}M" if value >= 1e6 else f"{value / 1e3:.0f}k"


def usable(figure: Run | None) -> bool:
    """Whether a figure rests on at least one usable run."""
    if not figure or "failure" in figure or "skipped" in figure:
        return False
    return int(figure.get("runs_used", 1)) > 0


def _value(figures: dict[str, Run], key: str, get: Callable[[Run], Any]) -> float | None:
    figure = figures.get(key)
    if figure is None or not usable(figure):
        return None
    v = get(figure)
    return float(v) if isinstance(v, int | float) and v == v else None


_FAN = "fanout/{s}/ws/n1000/r1"


def _metrics() -> list[tuple[str, str, Callable[[Run], Any]]]:
    dps: Callable[[Run], Any] = lambda r: r.get("deliveries_per_s")  # noqa: E731
    p99: Callable[[Run], Any] = lambda r: r.get("latency", {}).get("p99_ms")  # noqa: E731
    acks: Callable[[Run], Any] = lambda r: r.get("acks_per_s")  # noqa: E731
    mem: Callable[[Run], Any] = lambda r: r.get("bytes_per_connection")  # noqa: E731
    d8 = "/http/d8"  # the fan-out scenario's publisher, the same for every server
    out = [
        ("WS 1k max deliveries/s, HTTP publisher, 8 in flight (higher)", _FAN + "/flood" + d8, dps),
        ("WS 1k at 2,000 msg/s: p99 (lower)", _FAN + "/paced/2000" + d8, p99),
        ("WS 10k at 10 msg/s: p99 (lower)", "fanout/{s}/ws/n10000/r1/paced/10" + d8, p99),
        ("WS 10k max deliveries/s (higher)", "fanout/{s}/ws/n10000/r1/flood" + d8, dps),
        ("1,000 rooms max deliveries/s (higher)", "rooms/{s}/ws/n10/r1000/flood/http/d64", dps),
        ("SSE 1k max deliveries/s (higher)", "fanout/{s}/sse/n1000/r1/flood" + d8, dps),
        ("SSE 1k at 1,000 msg/s: p99 (lower)", "fanout/{s}/sse/n1000/r1/paced/1000" + d8, p99),
        (
            "long poll 1k at 100 msg/s: p99 (lower)",
            "fanout/{s}/longpoll/n1000/r1/paced/100" + d8,
            p99,
        ),
    ]
    for depth in DEPTHS:
        for via in ("http", "ws"):
            out.append(
                (
                    f"WS 1k max deliveries/s, {via.upper()} publisher, {depth} in flight (higher)",
                    f"depth/{{s}}/ws/n1000/r1/flood/{via}/d{depth}",
                    dps,
                )
            )
    for crowd in CROWDS:
        out.append(
            (
                f"WS 1k max deliveries/s, {crowd} HTTP publishers, 1 in flight each (higher)",
                f"depth/{{s}}/ws/n1000/r1/flood/http/{crowd}x1",
                dps,
            )
        )
    out += [
        ("publishes/s over WS, 8 x 8 (higher)", "publish/{s}/ws/n0/r8/closed/ws/8x8", acks),
        ("publishes/s over HTTP, 64 x 1 (higher)", "publish/{s}/ws/n0/r8/closed/http/64x1", acks),
        ("publishes/s by wrk, 64 x 1 (higher)", "publish/{s}/ws/n0/r8/closed/wrk/64x1", acks),
        ("idle memory per WS connection (lower)", "idle/{s}/ws/n10000/r1/idle", mem),
    ]
    return out


def ratio_section(figures: list[Run]) -> list[str]:
    by_key = {r["key"]: r for r in figures if "key" in r}
    peers = [s for s in SERVERS if not s.startswith("hubbub")]
    rows = []
    for title, pattern, get in _metrics():
        mine = _value(by_key, pattern.format(s="hubbub"), get)
        cells = []
        for peer in peers:
            theirs = _value(by_key, pattern.format(s=peer), get)
            cells.append(f"{mine / theirs:.2f}x" if mine and theirs else "—")
        if any(c != "—" for c in cells):
            rows.append([title, *cells])
    head = ["hubbub / peer", *(LABELS[p] for p in peers)]
    return [
        "## hubbub against each peer",
        "",
        "Each cell is hubbub's median divided by the peer's, over runs of the same suite "
        "that alternated between the servers, with the same publisher (kind and depth) and "
        "the same generator layout. Above 1 is better for hubbub where higher is better; "
        "below 1 where lower is better. Runs where the generator may have been the limit "
        "are not used (—). hubbub uses its memory store here, like the peers (none of them "
        "stores messages durably); the SQLite numbers are in the publish table.",
        "",
        table(head, rows),
        "",
    ]


def depth_section(figures: list[Run]) -> list[str]:
    """Each server's flooded fan-out at 1, 8, 16 and 64 publishes in flight."""
    curves: dict[tuple[str, str], dict[int, Run]] = {}
    for fig in figures:
        spec = fig.get("spec", {})
        if spec.get("scenario") == "depth":
            crowd = spec.get("connections", 1)
            # A crowd: `crowd` connections, one in flight each, beside one connection
            # pipelining as many.
            via = spec["via"].upper() if crowd == 1 else f"{spec['via'].upper()}, a connection each"
            curves.setdefault((spec["server"], via), {})[spec["pipeline"] * crowd] = fig
    if not curves:
        return []
    rows = []
    for (server, via), by_depth in curves.items():
        cells = []
        for depth in DEPTHS:
            point = by_depth.get(depth)
            if point is None:
                cells.append("—")
            elif not usable(point):
                why = "; ".join(sorted(set(point.get("excluded", [])))) or "failed"
                cells.append(f"not used: {why}"[:90])
            else:
                lat = point.get("latency", {})
                cells.append(
                    f"{k(point.get('deliveries_per_s'))}"
                    f"{spread_text(point, 'deliveries_per_s', 1e-3, 0)}, p50 "
                    f"{lat.get('p50_ms', 0):.1f} / p99 {lat.get('p99_ms', 0):.1f} ms"
                )
        rows.append([LABELS.get(server, server), via, *cells])
    head = ["server", "publisher", *(f"{d} in flight" for d in DEPTHS)]
    return [
        "### Publisher depth: WebSocket fan-out to 1,000 subscribers, flooded",
        "",
        "Deliveries/s (median, min-max in thousands) and probe latency with one publisher "
        "connection keeping 1, 8, 16 or 64 publishes in flight. A server that answers a publish "
        "only after fanning it out (Nchan) queues the depth in front of it; one that "
        "batches (hubbub) turns it into throughput: compare servers within a column. "
        "*HTTP, a connection each*: the same number in flight from a crowd of connections "
        "with one publish each, as many users sending at once make them.",
        "",
        table(head, rows),
        "",
    ]
