"""docs/benchmarks.md from a results file: method, tables, ratios, targets, profiles, plots.

Everything in the page is generated from ``bench/results/<mode>.json`` except the
hand-written analysis (``bench/analysis.md``), which is included as it is.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import plots, targets
from bench.servers import REPO, SERVERS

Run = dict[str, Any]
DOC = REPO / "docs" / "benchmarks.md"
IMAGES = REPO / "docs" / "bench"
METHOD = Path(__file__).with_name("method.md")
ANALYSIS = Path(__file__).with_name("analysis.md")
LABELS = {name: spec.label for name, spec in SERVERS.items()}


def _f(value: Any, digits: int = 1) -> str:
    if not isinstance(value, int | float) or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:,.{digits}f}"


def _k(value: Any) -> str:
    """Deliveries per second, compact: 1.23M, 456k."""
    if not isinstance(value, int | float) or value != value:
        return "—"
    return f"{value / 1e6:.2f}M" if value >= 1e6 else f"{value / 1e3:.0f}k"


def _table(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _notes(run: Run) -> str:
    if "skipped" in run:
        return f"skipped: {run['skipped']}"
    if "failure" in run:
        return "failed: " + str(run["failure"]).splitlines()[0][:160]
    notes = []
    s = run.get("streams", {})
    for field, word in (("lost", "lost"), ("duplicates", "doubled"), ("reordered", "out of order")):
        if s.get(field):
            notes.append(f"{s[field]:,} {word}")
    if run.get("closed_by_server"):
        notes.append(f"{run['closed_by_server']} closed by server")
    if run.get("id_mismatches"):
        notes.append(f"{run['id_mismatches']} id mismatches")
    aborted = run.get("publish", {}).get("aborted")
    if aborted:
        notes.append(f"stopped: {aborted}")
    elif run.get("spec", {}).get("mode") == "paced" and not run.get("sustained"):
        notes.append(f"not sustained (drained {_f(run.get('drain_lag_s'), 2)} s late)")
    if (run.get("generator_cpu") or 0) > 0.9:
        notes.append("generator-bound")
    return "; ".join(notes)


def _fanout_rows(runs: list[Run]) -> list[list[str]]:
    rows = []
    for r in runs:
        spec = r["spec"]
        lat = r.get("latency", {})
        s = r.get("streams", {})
        rate = "max" if spec["mode"] == "flood" else _f(spec["rate"], 0)
        intact = f"{s['complete']:,}/{s['subscribers']:,}" if s else "—"
        rows.append(
            [
                LABELS.get(spec["server"], spec["server"]),
                rate,
                _f(r.get("publish_rate"), 0),
                _k(r.get("deliveries_per_s")),
                _f(lat.get("p50_ms")),
                _f(lat.get("p99_ms")),
                _f(lat.get("max_ms")),
                _f(r.get("server_cpu"), 2),
                _f(r.get("generator_cpu"), 2),
                intact,
                _notes(r),
            ]
        )
    return rows


_FANOUT_HEAD = [
    "server",
    "rate",
    "published msg/s",
    "deliveries/s",
    "p50 ms",
    "p99 ms",
    "max ms",
    "server CPU",
    "generator CPU",
    "streams intact",
    "notes",
]


def _fanout_section(runs: list[Run]) -> list[str]:
    out = []
    groups: dict[tuple[str, int, int, str], list[Run]] = {}
    for r in runs:
        spec = r.get("spec", {})
        if spec.get("scenario") in ("fanout", "rooms"):
            key = (spec["scenario"], spec["subscribers"], spec["rooms"], spec["transport"])
            groups.setdefault(key, []).append(r)
    names = {"ws": "WebSocket", "sse": "SSE", "longpoll": "long poll", "shortpoll": "short poll"}
    for (scenario, subs, rooms, transport), group in groups.items():
        if scenario == "fanout":
            title = f"### Fan-out, {subs:,} subscribers in one room, {names[transport]}"
        else:
            title = f"### Many rooms: {rooms:,} rooms x {subs} subscribers, {names[transport]}"
        out += [title, "", _table(_FANOUT_HEAD, _fanout_rows(group)), ""]
    return out


def _publish_section(runs: list[Run]) -> list[str]:
    rows = []
    for r in runs:
        spec = r.get("spec", {})
        if spec.get("scenario") != "publish":
            continue
        lat = r.get("ack_latency", {})
        errors = r.get("publish", {}).get("publish_errors", "—")
        rows.append(
            [
                LABELS.get(spec["server"], spec["server"]),
                spec["via"].upper(),
                f"{spec['connections']} x {spec['pipeline']}",
                _f(r.get("acks_per_s"), 0),
                _f(lat.get("p50_ms"), 2),
                _f(lat.get("p99_ms"), 2),
                _f(r.get("server_cpu"), 2),
                _f(r.get("generator_cpu"), 2),
                str(errors),
                _notes(r) if "failure" in r else "",
            ]
        )
    head = [
        "server",
        "over",
        "connections x in flight",
        "acknowledged/s",
        "p50 ms",
        "p99 ms",
        "server CPU",
        "generator CPU",
        "errors",
        "notes",
    ]
    return ["### Acknowledged publishes", "", _table(head, rows), ""] if rows else []


def _idle_section(runs: list[Run]) -> list[str]:
    rows = []
    for r in runs:
        spec = r.get("spec", {})
        if spec.get("scenario") != "idle":
            continue
        per = r.get("bytes_per_connection")
        rows.append(
            [
                LABELS.get(spec["server"], spec["server"]),
                spec["transport"],
                _f(r.get("alive"), 0),
                _f(per / 1024 if per else None, 1),
                _f((r.get("mem_after") or 0) / 2**20, 0),
                _notes(r) if "failure" in r else "",
            ]
        )
    head = [
        "server",
        "transport",
        "connections held",
        "KiB per connection",
        "server memory (MiB)",
        "notes",
    ]
    return ["### Idle subscriptions (10,000 held)", "", _table(head, rows), ""] if rows else []


def _value(runs: dict[str, Run], key: str, get: Callable[[Run], Any]) -> float | None:
    run = runs.get(key)
    if run is None or "failure" in run or "skipped" in run:
        return None
    v = get(run)
    return float(v) if isinstance(v, int | float) and v == v else None


def _ratio_section(runs: list[Run]) -> list[str]:
    by_key = {r["key"]: r for r in runs if "key" in r}
    dps: Callable[[Run], Any] = lambda r: r.get("deliveries_per_s")  # noqa: E731
    p99: Callable[[Run], Any] = lambda r: r.get("latency", {}).get("p99_ms")  # noqa: E731
    acks: Callable[[Run], Any] = lambda r: r.get("acks_per_s")  # noqa: E731
    mem: Callable[[Run], Any] = lambda r: r.get("bytes_per_connection")  # noqa: E731
    metrics = [
        ("WS 1k max deliveries/s (higher is better)", "fanout/{s}/ws/n1000/r1/flood", dps, False),
        (
            "WS 1k at 2,000 msg/s: p99 (lower is better)",
            "fanout/{s}/ws/n1000/r1/paced/2000",
            p99,
            True,
        ),
        ("WS 10k at 10 msg/s: p99 (lower)", "fanout/{s}/ws/n10000/r1/paced/10", p99, True),
        ("WS 10k max deliveries/s (higher)", "fanout/{s}/ws/n10000/r1/flood", dps, False),
        ("1,000 rooms max deliveries/s (higher)", "rooms/{s}/ws/n10/r1000/flood", dps, False),
        ("publishes/s over WS (higher)", "publish/{s}/ws/n0/r8/closed/ws", acks, False),
        ("publishes/s over HTTP (higher)", "publish/{s}/ws/n0/r8/closed/http", acks, False),
        ("idle memory per WS connection (lower)", "idle/{s}/ws/n10000/r1/idle", mem, True),
        ("SSE 1k max deliveries/s (higher)", "fanout/{s}/sse/n1000/r1/flood", dps, False),
        ("SSE 1k at 1,000 msg/s: p99 (lower)", "fanout/{s}/sse/n1000/r1/paced/1000", p99, True),
        (
            "long poll 1k at 100 msg/s: p99 (lower)",
            "fanout/{s}/longpoll/n1000/r1/paced/100",
            p99,
            True,
        ),
    ]
    peers = [s for s in SERVERS if not s.startswith("hubbub")]
    rows = []
    for title, pattern, get, _lower in metrics:
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
        "Each cell is hubbub's figure divided by the peer's, in the same run of the suite. "
        "Above 1 is better for hubbub where higher is better; below 1 is better where lower "
        "is better. hubbub uses its memory store here, like the peers (none of them stores "
        "messages durably); the SQLite numbers are in the publish table.",
        "",
        _table(head, rows),
        "",
    ]


def _targets_section(runs: list[Run]) -> list[str]:
    rows = [
        [t["name"], t["measured"], "met" if t["met"] else "**missed**"]
        for t in targets.evaluate(runs)
    ]
    return ["## Targets", "", _table(["target", "measured", "verdict"], rows), ""]


def _profiles_section(profiles: dict[str, Any]) -> list[str]:
    out = ["## Profiles of missed targets (py-spy)", ""]
    if not profiles:
        return [*out, "No hubbub run missed a target, or profiling was off.", ""]
    for key, prof in profiles.items():
        if not isinstance(prof, dict):
            continue
        out += [f"### `{key}` ({prof.get('target', '')})", ""]
        if prof.get("error"):
            out += [f"Profiler note: {prof['error'][:300]}", ""]
        if prof.get("self"):
            rows = [[f"`{name}`", f"{pct}%"] for name, pct in prof["self"][:12]]
            out += [
                f"{prof.get('samples', 0):,} samples of the busy server; where the time "
                "is spent (self):",
                "",
                _table(["function", "self"], rows),
                "",
            ]
            rows = [[f"`{name}`", f"{pct}%"] for name, pct in prof["inclusive"][:12]]
            out += [
                "Inclusive (the function and what it calls):",
                "",
                _table(["function", "inclusive"], rows),
                "",
            ]
    return out


def _loads(values: Any) -> str:
    return " / ".join(f"{v:.1f}" for v in values) if isinstance(values, list) else "—"


def _machine_section(doc: dict[str, Any]) -> list[str]:
    m = doc.get("machine", {})
    noise = doc.get("noise_floor", {})
    place = doc.get("placement", {})
    return [
        "## The machine",
        "",
        f"- CPU: {m.get('cpu')}, {m.get('cores')} cores, {m.get('memory_gib')} GiB; "
        f"Linux {m.get('kernel')}",
        f"- Python {m.get('python')}, Node {m.get('node')}, {m.get('nginx')}",
        f"- Server on core {place.get('server')}, generator on core(s) {place.get('generator')}",
        f"- Load average (1/5/15 min) at start {_loads(m.get('load_average'))}, at end "
        f"{_loads(m.get('load_average_end'))} "
        "(the machine is shared: other work ran on both cores during the suite)",
        f"- Noise floor: a one-byte ping-pong between the two cores takes "
        f"p50 {_f((noise.get('p50_ms') or 0) * 1000, 0)} us, p99 {_f(noise.get('p99_ms'), 2)} ms, "
        f"max {_f(noise.get('max_ms'), 2)} ms before any server code runs",
        f"- Suite: {doc.get('mode')} mode, started {doc.get('started')}, "
        f"{_f(doc.get('elapsed_s'), 0)} s",
        "",
    ]


def render(doc: dict[str, Any], image_names: list[str]) -> str:
    runs: list[Run] = doc.get("runs", [])
    parts = [
        "# Benchmarks: hubbub against the servers users would pick instead",
        "",
        "<!-- Generated by `python -m bench report` from bench/results/*.json; the method "
        "is bench/method.md and the analysis bench/analysis.md. Edit those, not this. -->",
        "",
    ]
    if METHOD.exists():
        parts += [METHOD.read_text().rstrip(), ""]
    parts += _machine_section(doc)
    if doc.get("unavailable"):
        parts += [
            "Peers left out: " + "; ".join(f"{k} ({v})" for k, v in doc["unavailable"].items()),
            "",
        ]
    parts += _targets_section(runs)
    parts += _ratio_section(runs)
    parts += ["## Plots", ""]
    parts += [
        "Each point is the most a server delivered in any run at that size (its flood where "
        "the suite ran one). In quick mode the 10,000-subscriber points are the 10 msg/s "
        "runs, so they cannot exceed 100k deliveries/s; full mode floods there too. The "
        "latency plot holds the delivery load at 100k/s: 100 msg/s to 1,000 subscribers, "
        "10 msg/s to 10,000.",
        "",
    ]
    parts += [f"![{name}](bench/{name})" for name in image_names] + [""]
    parts += ["## Results", ""]
    parts += _fanout_section(runs) + _publish_section(runs) + _idle_section(runs)
    if ANALYSIS.exists():
        parts += [ANALYSIS.read_text().rstrip(), ""]
    parts += _profiles_section(doc.get("profiles", {}))
    return "\n".join(parts).rstrip() + "\n"


def write(results: Path) -> Path:
    doc = json.loads(results.read_text())
    names = plots.draw_all(doc.get("runs", []), LABELS, IMAGES)
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text(render(doc, names))
    return DOC
