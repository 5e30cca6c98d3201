"""docs/benchmarks.md from a results file: method, tables, ratios, targets, profiles, plots.

Everything in the page is generated from ``bench/results/<mode>.json`` except the
hand-written analysis (``bench/analysis.md``), which is included as it is. Every figure
is the median of the usable runs of its key, with its min-max spread (``bench.stats``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from bench import plots, stats, targets
from bench.compare import depth_section, k, ratio_section, table
from bench.servers import REPO, SERVERS
from bench.stats import spread_text
from bench.variants_report import levers_section, scale_section

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
    used, excluded = run.get("runs_used"), run.get("excluded", [])
    if used is not None and used < 3:
        notes.append(f"{used} usable run{'s' if used != 1 else ''}")
    if excluded:
        notes.append(f"{len(excluded)} not used ({'; '.join(sorted(set(excluded)))[:120]})")
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
                k(r.get("deliveries_per_s")) + spread_text(r, "deliveries_per_s", 1e-3, 0),
                _f(lat.get("p50_ms")),
                _f(lat.get("p99_ms")) + spread_text(r, "latency.p99_ms"),
                _f(lat.get("max_ms")),
                _f(r.get("server_cpu"), 2),
                _f(r.get("generator_cpu"), 2),
                intact,
                "; ".join(filter(None, (_per_poll(r), _notes(r)))),
            ]
        )
    return rows


def _per_poll(run: Run) -> str:
    """Long poll: server CPU per delivered message (per poll answer, at least this)."""
    if run.get("spec", {}).get("transport") != "longpoll" or not run.get("deliveries_per_s"):
        return ""
    return f"{targets.per_delivery_us(run):.0f} µs server CPU per delivered message"


_FANOUT_HEAD = [
    "server",
    "rate",
    "published msg/s",
    "deliveries/s (min-max, k)",
    "p50 ms",
    "p99 ms (min-max)",
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
        out += [title, "", table(_FANOUT_HEAD, _fanout_rows(group)), ""]
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
                "HTTP (wrk)" if spec["via"] == "wrk" else spec["via"].upper(),
                f"{spec['connections']} x {spec['pipeline']}",
                _f(r.get("acks_per_s"), 0) + spread_text(r, "acks_per_s", 1.0, 0),
                _f(lat.get("p50_ms"), 2),
                _f(lat.get("p99_ms"), 2),
                _f(r.get("server_cpu"), 2),
                _f(r.get("generator_cpu"), 2),
                str(errors),
                _notes(r),
            ]
        )
    head = [
        "server",
        "over",
        "connections x in flight",
        "acknowledged/s (min-max)",
        "p50 ms",
        "p99 ms",
        "server CPU",
        "generator CPU",
        "errors",
        "notes",
    ]
    return ["### Acknowledged publishes", "", table(head, rows), ""] if rows else []


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
                _f(per / 1024 if per else None, 1)
                + spread_text(r, "bytes_per_connection", 1 / 1024, 1),
                _f((r.get("mem_after") or 0) / 2**20, 0),
                _notes(r),
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
    return ["### Idle subscriptions (10,000 held)", "", table(head, rows), ""] if rows else []


def _targets_section(runs: list[Run]) -> list[str]:
    rows = [
        [t["name"], t["measured"], "met" if t["met"] else "**missed**"]
        for t in targets.evaluate(runs)
    ]
    return ["## Targets", "", table(["target", "measured", "verdict"], rows), ""]


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
                table(["function", "self"], rows),
                "",
            ]
            rows = [[f"`{name}`", f"{pct}%"] for name, pct in prof["inclusive"][:12]]
            out += [
                "Inclusive (the function and what it calls):",
                "",
                table(["function", "inclusive"], rows),
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
        "- Priorities: server nice -10, driver (probes, publisher, wrk) -15, counting "
        "subscribers -5, each in a session (autogroup) of its own: "
        + ("; ".join(doc.get("priority_notes", [])) or "all applied"),
        f"- Suite: {doc.get('mode')} mode, {doc.get('repeats', 1)} runs per figure "
        f"(servers alternating), started {doc.get('started')}, {_f(doc.get('elapsed_s'), 0)} s",
        "",
    ]


def render(doc: dict[str, Any], image_names: list[str]) -> str:
    runs: list[Run] = doc.get("figures") or stats.figures(doc.get("runs", []))
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
    parts += ratio_section(runs)
    parts += ["## Plots", ""]
    parts += [
        "Each point is the most a server delivered (median of its runs) at that size, over "
        "the fan-out runs with the same publisher for every server (its flood where "
        "the suite ran one). In quick mode the 10,000-subscriber points are the 10 msg/s "
        "runs, so they cannot exceed 100k deliveries/s; full mode floods there too. The "
        "latency plot holds the delivery load at 100k/s: 100 msg/s to 1,000 subscribers, "
        "10 msg/s to 10,000.",
        "",
    ]
    parts += [f"![{name}](bench/{name})" for name in image_names] + [""]
    parts += ["## Results", ""]
    parts += _fanout_section(runs) + depth_section(runs)
    parts += _publish_section(runs) + _idle_section(runs)
    parts += scale_section(runs) + levers_section(runs)
    if ANALYSIS.exists():
        parts += [ANALYSIS.read_text().rstrip(), ""]
    parts += _profiles_section(doc.get("profiles", {}))
    return "\n".join(parts).rstrip() + "\n"


def write(results: Path) -> Path:
    doc = json.loads(results.read_text())
    names = plots.draw_all(doc.get("figures") or stats.figures(doc.get("runs", [])), LABELS, IMAGES)
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text(render(doc, names))
    return DOC
