"""One benchmark run: start a server, connect the generator, publish, check, measure.

A run is one server, one transport, one workload. It starts the server pinned to the
server core, generator processes pinned to the generator core (counting subscribers
split over as many processes as needed, probes and the publisher in a "driver" process;
each reniced as bench/priority.py says), connects probes first and last around the
counters, publishes, waits for every stream to complete, and reads CPU and memory from
the server's process tree and each generator process's CPU (bench/generator.py marks a
run the generator may have limited). The closed-loop HTTP publish run can use wrk as the
client instead (bench/wrk.py). Everything it starts it stops by pid, also when something
fails.
"""

from __future__ import annotations

import math
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench import generator, priority, profile, wrk
from bench.checker import StreamTally, latency_summary
from bench.procs import WorkerHandle, call_all
from bench.servers import SERVERS, RunningServer, running


@dataclass
class Cores:
    """Where the server and the generator run."""

    server: str | None = "0"  # taskset list for the server
    generator: list[int] | None = field(default_factory=lambda: [1])


@dataclass
class RunSpec:
    scenario: str  # fanout, rooms, publish, idle
    server: str
    transport: str  # ws, sse, longpoll, shortpoll
    subscribers: int = 0  # per room
    rooms: int = 1
    mode: str = "paced"  # paced, flood, closed, idle
    rate: float = 0.0
    duration_s: float = 3.0
    via: str = "ws"  # how the publisher publishes: ws, http, or wrk (closed loop only)
    probes: int = 4
    # Closed loop: publishing connections. Paced and flood over HTTP: a crowd of that many
    # publishers sharing the rooms, `pipeline` in flight each (what many users sending at
    # once make), whose messages have no order across connections but the server's.
    connections: int = 1
    pipeline: int = 64  # the publisher's depth: publishes in flight per connection
    window: int = 200
    hold_s: float = 3.0  # idle: how long connections are held before measuring
    lag_abort_s: float = 5.0  # paced: stop once the probes are this far behind
    per_process: int = 5000  # counting subscribers per generator process

    def key(self) -> str:
        parts = [
            self.scenario,
            self.server,
            self.transport,
            f"n{self.subscribers}",
            f"r{self.rooms}",
            self.mode,
        ]
        if self.mode == "paced":
            parts.append(f"{self.rate:g}")
        # The publisher is part of what a figure means: runs compare only at equal depth.
        if self.mode in ("paced", "flood") and self.connections > 1:
            parts += [self.via, f"{self.connections}x{self.pipeline}"]
        elif self.mode in ("paced", "flood"):
            parts += [self.via, f"d{self.pipeline}"]
        if self.mode == "closed":
            parts += [self.via, f"{self.connections}x{self.pipeline}"]
        return "/".join(parts)


def _room_names(spec: RunSpec) -> list[str]:
    return ["fanout"] if spec.rooms == 1 else [f"r{i}" for i in range(spec.rooms)]


def _layout(spec: RunSpec) -> tuple[list[str], list[str], list[str]]:
    """(early probe rooms, counting subscriber rooms, late probe rooms)."""
    rooms = _room_names(spec)
    total = spec.subscribers * len(rooms)
    probes = min(spec.probes, total)
    # Probes spread over rooms (at most one per room when there are many rooms).
    probe_rooms = [rooms[(i * len(rooms)) // max(1, probes)] for i in range(probes)]
    counting: list[str] = []
    taken = {r: probe_rooms.count(r) for r in set(probe_rooms)}
    for room in rooms:
        counting.extend([room] * (spec.subscribers - taken.get(room, 0)))
    half = len(probe_rooms) // 2
    return probe_rooms[:half], counting, probe_rooms[half:]


def run(
    spec: RunSpec, cores: Cores, log: Any = print, profile_to: Path | None = None
) -> dict[str, Any]:
    """Run ``spec`` once; returns the result record (never raises for a server's fault).

    With ``profile_to``, py-spy records the server while it publishes (into that file).
    """
    server_spec = SERVERS[spec.server]
    result: dict[str, Any] = {"key": spec.key(), "spec": asdict(spec), "label": server_spec.label}
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="hubbub-bench-") as tmp:
        try:
            with running(server_spec, Path(tmp), cores.server) as server:
                result["server_pid"] = server.pid
                result["priority_notes"] = list(server.priority_notes)
                if spec.via == "wrk":
                    _wrk(spec, server, cores, result, Path(tmp))
                else:
                    _drive(spec, server, cores, result, profile_to)
        except Exception as exc:  # recorded in the results; the suite goes on
            result["failure"] = f"{type(exc).__name__}: {exc}"[:2000]
    result["elapsed_s"] = round(time.monotonic() - started, 2)
    log(_one_line(result))
    return result


def _drive(
    spec: RunSpec,
    server: RunningServer,
    cores: Cores,
    result: dict[str, Any],
    profile_to: Path | None,
) -> None:
    early, counting, late = _layout(spec)
    base = {"port": server.port, "dialect": server.spec.dialect, "cpus": cores.generator}
    driver = WorkerHandle("driver", {**base, "nice": priority.DRIVER_NICE})
    n_counters = math.ceil(len(counting) / spec.per_process) if counting else 0
    counters = [
        WorkerHandle(f"{generator.COUNTER_PREFIX}{i}", {**base, "nice": priority.COUNTER_NICE})
        for i in range(n_counters)
    ]
    workers = [driver, *counters]
    try:
        result["priority_notes"] += [r["note"] for r in call_all(workers, "priority") if r["note"]]
        result["mem_before"] = server.memory_bytes()
        connect_timeout = 60.0 + len(counting) / 200
        connected = 0
        if early:
            connected += driver.call(
                "connect", connect_timeout, transport=spec.transport, rooms=early, probe=True
            )["live"]
        slices = [counting[i::n_counters] for i in range(n_counters)]
        for reply in [
            h.wait(
                h.send("connect", transport=spec.transport, rooms=s, probe=False), connect_timeout
            )
            for h, s in zip(counters, slices, strict=True)
        ]:
            connected += reply["live"]
            if reply["failed"]:
                result.setdefault("connect_failures", []).extend(reply["failures"])
        if late:
            connected += driver.call(
                "connect", connect_timeout, transport=spec.transport, rooms=late, probe=True
            )["live"]
        result["connected"] = connected
        if spec.mode == "idle":
            _idle(spec, server, workers, result)
            return
        plan = _plan(spec)
        driver.call("open_publishers", 30.0, plan=plan)
        time.sleep(0.5)  # let every server finish registering its subscribers
        spy = (
            profile.start(server.pid, spec.duration_s, profile_to, cores.generator)
            if profile_to
            else None
        )
        try:
            _publish(spec, server, driver, workers, plan, result, len(cores.generator or [1]))
        finally:
            if spy is not None:
                result["profile_error"] = profile.finish(spy, spec.duration_s + 30)
    finally:
        for handle in workers:
            handle.stop()


def _plan(spec: RunSpec) -> dict[str, Any]:
    rooms = _room_names(spec)
    return {
        "mode": spec.mode,
        "rooms": rooms,
        "via": spec.via,
        "duration_s": spec.duration_s,
        "rate": spec.rate,
        "window": spec.window,
        "pipeline": spec.pipeline,
        "warmup": len(rooms) if len(rooms) > 1 else 50,
        "connections": spec.connections,
    }


def _idle(
    spec: RunSpec, server: RunningServer, workers: list[WorkerHandle], result: dict[str, Any]
) -> None:
    time.sleep(spec.hold_s)
    after = server.memory_bytes()
    alive = sum(r["alive"] for r in call_all(workers, "status"))
    result["alive"] = alive
    result["mem_after"] = after
    if alive:
        result["bytes_per_connection"] = (after - result["mem_before"]) / alive


def _publish(
    spec: RunSpec,
    server: RunningServer,
    driver: WorkerHandle,
    workers: list[WorkerHandle],
    plan: dict[str, Any],
    result: dict[str, Any],
    generator_cores: int,
) -> None:
    cpu0 = server.cpu_seconds()
    gen0 = [r["cpu_s"] for r in call_all(workers, "cpu")]
    t0 = time.time_ns()
    outcome = driver.call("publish", spec.duration_s * 3 + 60.0, plan=plan)
    result["publish"] = outcome
    published: dict[str, int] = outcome["published"]
    if spec.mode == "closed":
        t1 = time.time_ns()
        window_s = (outcome["measure_until_ns"] - outcome["measure_from_ns"]) / 1e9
        result["acks_per_s"] = outcome["measured"] / window_s
        result["ack_latency"] = outcome["ack_latency"]
    else:
        drain = 30.0  # an upper bound: collection ends once every stream is complete or stalls
        replies = call_all(
            workers,
            "collect",
            drain + 30.0,
            published=published,
            deadline_s=drain,
            ordered=spec.connections == 1,
        )
        t1 = time.time_ns()
        _streams(spec, outcome, replies, result)
        t1 = min(t1, max(result.get("last_rx_ns", t1), outcome["measure_until_ns"]))
    wall = (t1 - t0) / 1e9
    result["server_cpu"] = (server.cpu_seconds() - cpu0) / wall
    gen1 = [r["cpu_s"] for r in call_all(workers, "cpu")]
    by_process = {
        h.name: (after - before) / wall
        for h, before, after in zip(workers, gen0, gen1, strict=True)
    }
    _generator(result, by_process, generator_cores)
    result["mem_after"] = server.memory_bytes()


def _generator(result: dict[str, Any], by_process: dict[str, float], cores: int) -> None:
    """Each generator process's CPU, and the mark when the generator may have been the limit."""
    result["generator_cpu_by_process"] = by_process
    result["generator_cpu"] = sum(by_process.values())
    result["generator_cpu_max_process"] = max(by_process.values(), default=0.0)
    result["generator_bound"] = generator.verdict(by_process, cores)


def _wrk(
    spec: RunSpec, server: RunningServer, cores: Cores, result: dict[str, Any], workdir: Path
) -> None:
    """The closed-loop HTTP publish run, with wrk as the client."""
    if not wrk.available():
        raise RuntimeError("wrk is not installed (apt-get install wrk)")
    cpu0 = server.cpu_seconds()
    t0 = time.monotonic()
    figures = wrk.run(
        server.port,
        server.spec.dialect,
        _room_names(spec),
        spec.connections,
        spec.duration_s,
        cores.generator,
        workdir,
    )
    result["server_cpu"] = (server.cpu_seconds() - cpu0) / (time.monotonic() - t0)
    result["priority_notes"] += figures.pop("priority_notes", [])
    by_process = figures.pop("generator_cpu_by_process")
    for derived in ("generator_cpu", "generator_bound"):
        figures.pop(derived)
    result.update(figures)
    _generator(result, by_process, len(cores.generator or [1]))
    result["mem_after"] = server.memory_bytes()


def _streams(
    spec: RunSpec, outcome: dict[str, Any], replies: list[dict[str, Any]], result: dict[str, Any]
) -> None:
    counters, probes = StreamTally(), StreamTally()
    latencies: list[int] = []
    errors: list[str] = []
    last_rx = 0
    for reply in replies:
        counters.merge(StreamTally(**reply["counters"]))
        probes.merge(StreamTally(**reply["probes"]))
        latencies.extend(reply["latencies_ns"])
        errors.extend(reply["errors"])
        last_rx = max(last_rx, reply["last_rx_ns"])
        if spec.connections == 1:  # a crowd's ids follow the server's order, not the seqs
            result["id_mismatches"] = result.get("id_mismatches", 0) + reply["id_mismatches"]
        result["closed_by_server"] = result.get("closed_by_server", 0) + reply["closed"]
    both = StreamTally()
    both.merge(counters)
    both.merge(probes)
    result["streams"] = vars(both)
    result["probe_streams"] = vars(probes)
    result["errors"] = errors[:5]
    result["latency"] = latency_summary(latencies)
    result["last_rx_ns"] = last_rx
    start = outcome["measure_from_ns"]
    warm = plan_warmup = (spec.rooms if spec.rooms > 1 else 50) * spec.subscribers
    del plan_warmup
    measured_deliveries = max(0, both.received - warm)
    span = (max(last_rx, outcome["measure_until_ns"]) - start) / 1e9
    result["deliveries"] = measured_deliveries
    result["deliveries_per_s"] = measured_deliveries / span if span > 0 else 0.0
    result["publish_rate"] = outcome["measured"] / max(
        1e-9, (outcome["measure_until_ns"] - start) / 1e9
    )
    complete = both.complete == both.subscribers and both.subscribers > 0
    lag_s = (last_rx - outcome["measure_until_ns"]) / 1e9
    result["drain_lag_s"] = lag_s
    result["sustained"] = bool(complete and not outcome["aborted"] and lag_s < 1.0)


def _one_line(r: dict[str, Any]) -> str:
    bound = f" GENERATOR-BOUND ({r['generator_bound']})" if r.get("generator_bound") else ""
    return _summary(r) + bound


def _summary(r: dict[str, Any]) -> str:
    if "failure" in r:
        return f"{r['key']}: FAILED {r['failure'][:300]}"
    if "bytes_per_connection" in r:
        return f"{r['key']}: {r['alive']} held, {r['bytes_per_connection'] / 1024:.1f} KiB/conn"
    if "acks_per_s" in r:
        lat = r["ack_latency"]
        return (
            f"{r['key']}: {r['acks_per_s']:,.0f} acks/s, p50 {lat['p50_ms']:.2f} "
            f"p99 {lat['p99_ms']:.2f} ms, server {r['server_cpu']:.2f} "
            f"gen {r['generator_cpu']:.2f} cores, errors {r['publish']['publish_errors']}"
        )
    if "streams" in r:
        s, lat = r["streams"], r["latency"]
        return (
            f"{r['key']}: {r['deliveries_per_s']:,.0f} deliveries/s at "
            f"{r['publish_rate']:,.0f} msg/s, p50 {lat['p50_ms']:.1f} p99 {lat['p99_ms']:.1f} "
            f"max {lat['max_ms']:.1f} ms, server {r['server_cpu']:.2f} gen "
            f"{r['generator_cpu']:.2f} cores, streams {s['complete']}/{s['subscribers']} ok "
            f"(lost {s['lost']}, dup {s['duplicates']}, reordered {s['reordered']})"
            f"{' ABORTED ' + r['publish']['aborted'] if r['publish']['aborted'] else ''}"
        )
    return f"{r['key']}: {r}"
