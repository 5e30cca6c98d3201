"""The whole benchmark in one call: install peers, calibrate, run the matrix, profile.

Results are written after every run (``bench/results/<mode>.json``), so an interrupted
suite keeps what it measured. hubbub runs whose figures miss a target are repeated with
py-spy attached, and the profile summaries go into the same file for the report.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import install, machine, profile, targets
from bench.orchestrate import Cores, RunSpec, run
from bench.scenarios import Mode, not_sustained, plan, series
from bench.servers import BENCH_DIR

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
) -> Path:
    """Run everything; returns the results file."""
    _raise_fd_limit()
    RESULTS_DIR.mkdir(exist_ok=True)
    out = RESULTS_DIR / f"{mode.name}.json"
    cores = placement(pin)
    if cores.generator:
        os.sched_setaffinity(0, set(cores.generator))
    unavailable = install.ensure()
    for name, why in unavailable.items():
        log(f"skipping {name}: {why}")
    chosen = [s for s in servers if s not in unavailable]
    doc: dict[str, Any] = {
        "mode": mode.name,
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
    failed_series: set[str] = set()
    started = time.monotonic()
    for spec in plan(mode, chosen, scenarios):
        # A flood is never skipped: it finds its own rate, whatever the paced runs did.
        if spec.mode == "paced" and series(spec) in failed_series:
            doc["runs"].append(
                {"key": spec.key(), "spec": vars(spec), "skipped": "a lower rate was not sustained"}
            )
            continue
        result = run(spec, cores, log)
        doc["runs"].append(result)
        if not_sustained(result):
            failed_series.add(series(spec))
        _save(out, doc)
    if with_profiles:
        _profiles(doc, cores, out, log, mode.profiles)
    doc["elapsed_s"] = round(time.monotonic() - started, 1)
    doc["machine"]["load_average_end"] = os.getloadavg()
    _save(out, doc)
    return out


def _profiles(
    doc: dict[str, Any], cores: Cores, out: Path, log: Callable[[str], None], limit: int
) -> None:
    if profile.py_spy() is None:
        doc["profiles"]["error"] = "py-spy not installed"
        return
    raw_dir = RESULTS_DIR / "raw"
    raw_dir.mkdir(exist_ok=True)
    for target in targets.evaluate(doc["runs"]):
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
