"""hubbub's variants in the benchmark (issues 10 and 13): their runs, commands and targets.

Pure: no server runs.
"""

from __future__ import annotations

import os
from pathlib import Path

from bench import redis_proc, targets, variants_report
from bench.scenarios import QUICK, SCALE_SERVERS, SYNC_SERVERS, plan
from bench.servers import SERVERS, server_cpus


def test_scale_compares_one_process_with_two_on_the_same_runs() -> None:
    """Every scale server gets fan-out to 1,000 and 10,000 and the three publish shapes."""
    runs = plan(QUICK, list(SCALE_SERVERS), ["scale"])
    shapes: dict[str, set[str]] = {}
    for spec in runs:
        shapes.setdefault(spec.server, set()).add(spec.key().split("/", 2)[2])
    assert set(shapes) == set(SCALE_SERVERS)
    assert len({frozenset(s) for s in shapes.values()}) == 1
    assert shapes["hubbub-w2"] == {
        "ws/n1000/r1/flood/http/d8",
        "ws/n10000/r1/flood/http/d8",
        "ws/n0/r8/closed/http/64x1",
        "ws/n0/r8/closed/wrk/64x1",
        "ws/n0/r8/closed/ws/8x8",
    }


def test_a_run_two_scenarios_share_runs_once() -> None:
    """publish and levers both measure hubbub-sqlite's publishes: planned once."""
    keys = [s.key() for s in plan(QUICK, list(SYNC_SERVERS), ["publish", "levers"])]
    assert len(keys) == len(set(keys)) == 3 * len(SYNC_SERVERS)  # three publish shapes each


def test_levers_measure_long_poll_and_ws_paced_per_lever() -> None:
    """The GC lever gets the long-poll run and the 1,000 msg/s WS-published run."""
    keys = {s.key() for s in plan(QUICK, ["hubbub", "hubbub-gc-off"], ["levers"])}
    for server in ("hubbub", "hubbub-gc-off"):
        assert f"fanout/{server}/longpoll/n1000/r1/paced/100/http/d8" in keys
        assert f"fanout/{server}/ws/n1000/r1/paced/1000/ws/d8" in keys


def test_two_workers_get_every_core_and_a_redis_url(tmp_path: Path) -> None:
    """--workers 2 and --redis reach the command line; one process stays on its core."""
    w2 = SERVERS["hubbub-w2"]
    cmd = w2.command(tmp_path, "redis://127.0.0.1:1/0")
    assert cmd[cmd.index("--workers") + 1] == "2"
    assert cmd[cmd.index("--redis") + 1] == "redis://127.0.0.1:1/0"
    assert cmd[cmd.index("--store") + 1] == "sqlite"
    assert "--workers" not in SERVERS["hubbub-redis"].command(tmp_path, "redis://x:1/0")
    assert server_cpus(SERVERS["hubbub-redis"], "0") == "0"
    assert server_cpus(w2, "0") == ",".join(str(c) for c in range(os.cpu_count() or 1))
    assert server_cpus(w2, None) is None


def test_redis_is_durable_as_store_redis_requires(tmp_path: Path) -> None:
    """Append-only file with fsync on every write, loopback only, no snapshots."""
    cmd = redis_proc.command(6399, tmp_path)
    pairs = dict(zip(cmd[1::2], cmd[2::2], strict=False))
    assert pairs["--appendonly"] == "yes" and pairs["--appendfsync"] == "always"
    assert pairs["--bind"] == "127.0.0.1" and pairs["--port"] == "6399"
    assert pairs["--save"] == ""


def _fig(key: str, **values: object) -> dict[str, object]:
    return {"key": key, "runs_used": 3, **values}


def test_long_poll_target_uses_nchans_p99_and_the_per_poll_run() -> None:
    """Met only at 100k/s, p99 under Nchan's (and 30 ms) and <= 20 µs per poll, read from
    the 25 msg/s run (one message per answer); without that run, per poll is not claimed."""
    poll = "fanout/{}/longpoll/n1000/r1/paced/{}/http/d8"
    nchan = _fig(poll.format("nchan", 100), latency={"p99_ms": 12.0}, deliveries_per_s=1e5)
    fast = _fig(
        poll.format("hubbub", 100), deliveries_per_s=1e5, latency={"p99_ms": 10.0}, server_cpu=0.9
    )
    per_poll = _fig(  # 0.375 cores over 25k polls/s: 15 µs per poll
        poll.format("hubbub", 25), deliveries_per_s=25e3, latency={"p99_ms": 5.0}, server_cpu=0.375
    )
    name = targets.ISSUE_13[0].name
    verdicts = {v["name"]: v for v in targets.evaluate([nchan, fast, per_poll])}
    assert verdicts[name]["met"], verdicts[name]
    slow = {**fast, "latency": {"p99_ms": 20.0}}
    slow_poll = {**per_poll, "server_cpu": 0.75}  # 30 µs per poll
    missed = {v["name"]: v for v in targets.evaluate([nchan, slow, slow_poll])}[name]
    assert not missed["met"]
    assert "1.7x the 12 ms goal" in missed["measured"]
    assert "30 µs per poll, 1.5x the 20 µs goal" in missed["measured"]
    unmeasured = {v["name"]: v for v in targets.evaluate([nchan, fast])}[name]
    assert not unmeasured["met"] and "not measured" in unmeasured["measured"]


def test_ratio_target_says_when_nchans_figure_is_missing() -> None:
    """No Nchan run: the ratio is not claimed."""
    hub = _fig("depth/hubbub/ws/n1000/r1/flood/http/d16", deliveries_per_s=9e5)
    verdict = targets.evaluate([hub])[-1]
    assert not verdict["met"] and "missing" in verdict["measured"]
    nchan = _fig("depth/nchan/ws/n1000/r1/flood/http/d16", deliveries_per_s=3e5)
    verdict = targets.evaluate([hub, nchan])[-1]
    assert verdict["met"] and verdict["measured"].startswith("3.00x")


def test_scale_section_puts_two_workers_beside_one_with_their_ratio() -> None:
    """The x2 row shows both medians and x2 / x1; a missing figure is a dash, not a ratio."""
    one = _fig("fanout/hubbub-sqlite/ws/n1000/r1/flood/http/d8", deliveries_per_s=1e6)
    two = _fig("fanout/hubbub-w2/ws/n1000/r1/flood/http/d8", deliveries_per_s=1.5e6)
    text = "\n".join(variants_report.scale_section([one, two]))
    row = next(line for line in text.splitlines() if "x2 workers" in line and "1,000" in line)
    assert "1.00M" in row and "1.50M" in row and "1.50x" in row
    redis_row = next(line for line in text.splitlines() if "→ hubbub (Redis store)" in line)
    assert "—" in redis_row and "x |" not in redis_row
    assert variants_report.scale_section([]) == []
