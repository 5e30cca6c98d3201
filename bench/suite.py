"""The whole benchmark in one call: install peers, calibrate, run the matrix, profile.

Every measurement runs ``repeats`` times, servers alternating (``bench.rounds``); the
published figures are the medians with their spread (``bench.stats``). A run in which a
counting generator process used more than 0.8 of a core is kept, marked, and run again
with the counting subscribers spread over more processes (``bench.generator``).
Results are written after every run (``bench/results/<mode>.json`` unless told
otherwise), so an interrupted suite keeps what it measured. hubbub figures that miss a
target are run once more with py-spy attached, and the profile summaries go into the
same file for the report.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import resource
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench import generator, install, machine, profile, stats, targets
from bench.orchestrate import Cores, RunSpec, run
from bench.rounds import SeriesOutcomes, alternate, comparison_group
from bench.scenarios import Mode, not_sustained, plan
from bench.servers import BENCH_DIR, SERVERS

RESULTS_DIR = BENCH_DIR / "results"


def _raise_fd_limit() -> None:
    """10,000 subscribers need more descriptors than the usual soft limit of 1,024."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 65536
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want), max(hard, want)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def placement(pin: bool) -> Cores:
    cores = os.sched_getaffinity(0)
    if not pin or len(cores) < 2:
        return Cores(server=None, generator=None)
    first, second = sorted(cores)[:2]
    return Cores(server=str(first), generator=[second])


def run_suite(
    mode: Mode,
    servers: list[str],
    scenarios: list[str],
    *,
    pin: bool = True,
    with_profiles: bool = True,
    log: Callable[[str], None] = print,
    repeats: int | None = None,
    out: Path | None = None,
) -> Path:
    """Run everything; returns the results file (``out``, or bench/results/<mode>.json)."""
    _raise_fd_limit()
    out = out or RESULTS_DIR / f"{mode.name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    repeats = repeats or mode.repeats
    cores = placement(pin)
    if cores.generator:
        os.sched_setaffinity(0, set(cores.generator))
    unavailable = install.ensure()
    for name in servers:  # a variant on another Python needs its venv (not made here)
        python = SERVERS[name].python
        if python and not Path(python).exists():
            unavailable[name] = f"{python} missing"
    for name, why in unavailable.items():
        log(f"skipping {name}: {why}")
    chosen = [s for s in servers if s not in unavailable]
    doc: dict[str, Any] = {
        "mode": mode.name,
        "repeats": repeats,
        "started": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": machine.describe(),
        "placement": vars(cores),
        "unavailable": unavailable,
        "noise_floor": machine.ping_pong(
            (int(cores.server), cores.generator[0]) if cores.server and cores.generator else None
        ),
        "runs": [],
        "profiles": {},
    }
    log(f"cross-core ping-pong: {doc['noise_floor']}")
    outcomes = SeriesOutcomes()
    per_process: dict[str, int] = {}  # comparison group -> counting subscribers per process
    notes: set[str] = set()
    started = time.monotonic()
    for round_no, spec in alternate(plan(mode, chosen, scenarios), repeats):
        why = outcomes.skip_reason(spec)
        if spec.via == "wrk" and "wrk" in unavailable:
            why = f"wrk unavailable: {unavailable['wrk']}"
        if why:
            doc["runs"].append({"key": spec.key(), "spec": asdict(spec), "skipped": why})
            continue
        for result in _measure(spec, cores, log, per_process):
            result["round"] = round_no
            for note in set(result.get("priority_notes", [])) - notes:
                log(f"priority: {note}")
                notes.add(note)
            doc["runs"].append(result)
        doc["priority_notes"] = sorted(notes)
        outcomes.record(spec, not not_sustained(result))
        doc["figures"] = stats.figures(doc["runs"])
        _save(out, doc)
    doc["figures"] = stats.figures(doc["runs"])
    if with_profiles:
        _profiles(doc, cores, out, log, mode.profiles)
    doc["elapsed_s"] = round(time.monotonic() - started, 1)
    doc["machine"]["load_average_end"] = os.getloadavg()
    _save(out, doc)
    return out


def _measure(
    spec: RunSpec, cores: Cores, log: Callable[[str], None], per_process: dict[str, int]
) -> list[dict[str, Any]]:
    """One run; while a counting process was above the CPU limit, once more with more
    processes (the marked run stays in the results, unused). The layout found holds for
    the rest of the comparison group, every server alike. The last record is the one
    that counts."""
    group = comparison_group(spec)
    spec.per_process = per_process.get(group, spec.per_process)
    result = run(spec, cores, log)
    done = [result]
    counting = spec.subscribers * spec.rooms
    while result.get("generator_bound") and (
        smaller := generator.more_processes(
            result.get("generator_cpu_by_process", {}), counting, spec.per_process
        )
    ):
        result["superseded"] = f"run again with {smaller} counting subscribers per process"
        log(f"{spec.key()}: {result['superseded']}")
        spec.per_process = per_process[group] = smaller
        result = run(spec, cores, log)
        done.append(result)
    return done


def _profiles(
    doc: dict[str, Any], cores: Cores, out: Path, log: Callable[[str], None], limit: int
) -> None:
    if profile.py_spy() is None:
        doc["profiles"]["error"] = "py-spy not installed"
        return
    raw_dir = RESULTS_DIR / "raw"
    raw_dir.mkdir(exist_ok=True)
    for target in targets.evaluate(doc["figures"]):
        if target["met"] or not target.get("run"):
            continue
        spec = RunSpec(**next(r["spec"] for r in doc["runs"] if r["key"] == target["run"]))
        if not spec.server.startswith("hubbub") or spec.key() in doc["profiles"]:
            continue
        if spec.mode == "idle" or len(doc["profiles"]) >= limit:
            continue  # memory is not a CPU profile's question
        raw = raw_dir / (spec.key().replace("/", "_") + ".txt")
        spec.duration_s = max(spec.duration_s, 3.0)  # enough samples to read
        log(f"profiling {spec.key()} with py-spy")
        result = run(spec, cores, log, profile_to=raw)
        summary: dict[str, Any] = {"target": target["name"]}
        if raw.exists():
            summary.update(profile.summarise(raw))
        summary["error"] = result.get("profile_error", "") or result.get("failure", "")
        doc["profiles"][spec.key()] = summary
        _save(out, doc)


def _save(path: Path, doc: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(_clean(doc), indent=1, default=str))
    tmp.replace(path)


def _clean(value: Any) -> Any:
    """JSON has no NaN: an unmeasured figure (no samples) is written as null."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value
