"""Acknowledged HTTP publishes measured by wrk, so the figure does not rest on our client.

wrk (Debian's package) keeps ``connections`` keep-alive connections with one request
each in flight, like our closed-loop HTTP publisher. A small Lua script posts the same
JSON body as ``Dialect.publish_body`` (a 100-byte text and a ``client_id`` unique per
request, so no server can answer from an idempotency cache) round-robin over the rooms,
and prints its summary as one JSON line. wrk runs pinned to the generator's cores at the
driver's priority; its CPU time (from ``wait4``) goes through the same generator rule as
our own processes.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from bench import generator, priority
from bench.dialects import DIALECTS
from bench.payload import make_text

MARK = "WRK_JSON "

_SCRIPT = """\
local paths = {%(paths)s}
local text = %(text)s
local counter = 0
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("id", #threads)
end

function request()
  counter = counter + 1
  local body = '{"user":"bench","text":"' .. text .. '","client_id":"w' .. id .. '-' ..
    counter .. '"}'
  return wrk.format("POST", paths[(counter %% #paths) + 1],
    {["Content-Type"] = "application/json"}, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '%(mark)s{"requests":%%d,"duration_us":%%d,"connect":%%d,"read":%%d,"write":%%d,' ..
    '"status":%%d,"timeout":%%d,"p50_us":%%d,"p99_us":%%d,"max_us":%%d}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
"""


def script(paths: list[str]) -> str:
    """The Lua script posting JSON to ``paths`` in turn."""
    text = make_text(1, time.time_ns())
    return _SCRIPT % {
        "paths": ", ".join(json.dumps(p) for p in paths),
        "text": json.dumps(text),
        "mark": MARK,
    }


def command(
    url: str, script_path: Path, connections: int, threads: int, duration_s: float
) -> list[str]:
    seconds = max(1, round(duration_s))  # wrk takes whole seconds
    return [
        "wrk",
        f"-t{max(1, min(threads, connections))}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(script_path),
        url,
    ]


def parse(stdout: str) -> dict[str, Any]:
    """The summary line the script's ``done`` printed; ValueError when there is none."""
    for line in stdout.splitlines():
        if line.startswith(MARK):
            doc: dict[str, Any] = json.loads(line[len(MARK) :])
            return doc
    raise ValueError(f"no wrk summary in: {stdout[-500:]!r}")


def figures(summary: dict[str, Any]) -> dict[str, Any]:
    """The run record's publish figures from wrk's summary."""
    errors = sum(summary[k] for k in ("connect", "read", "write", "status", "timeout"))
    seconds = summary["duration_us"] / 1e6
    ok = summary["requests"] - summary["status"]
    return {
        "acks_per_s": ok / seconds if seconds > 0 else 0.0,
        "ack_latency": {
            "p50_ms": summary["p50_us"] / 1000,
            "p99_ms": summary["p99_us"] / 1000,
            "max_ms": summary["max_us"] / 1000,
        },
        "publish": {"publish_errors": errors, "acked": ok, "aborted": "", "wrk": summary},
    }


def available() -> bool:
    return shutil.which("wrk") is not None


def _lower_own_nice() -> None:
    # In the child before exec: wrk's threads inherit it. Not permitted: left as it is.
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, 0, priority.DRIVER_NICE)


def run(
    port: int,
    dialect: str,
    rooms: list[str],
    connections: int,
    duration_s: float,
    cpus: list[int] | None,
    workdir: Path,
) -> dict[str, Any]:
    """Run wrk against 127.0.0.1:``port``; the record's figures, CPU and notes."""
    speaker = DIALECTS[dialect]
    lua = workdir / "publish.lua"
    lua.write_text(script([speaker.publish_path(room) for room in rooms]))
    cmd = command(f"http://127.0.0.1:{port}", lua, connections, len(cpus or [1]), duration_s)
    if cpus:
        cmd = ["taskset", "-c", ",".join(map(str, cpus)), *cmd]
    out_path = workdir / "wrk.out"
    with out_path.open("wb") as out:
        proc = subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_lower_own_nice,  # one system call, safe before exec
        )
    note = priority.renice(proc.pid, priority.DRIVER_NICE)
    started = time.monotonic()
    deadline = started + duration_s + 30.0
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            proc.kill()
            proc.wait(5.0)
            raise TimeoutError(f"wrk did not finish within {duration_s + 30:g} s")
        time.sleep(0.05)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - started
    result = figures(parse(out_path.read_text(errors="replace")))
    cpu = (usage.ru_utime + usage.ru_stime) / wall
    result["generator_cpu_by_process"] = {"wrk": cpu}
    result["generator_cpu"] = cpu
    result["generator_bound"] = generator.verdict({"wrk": cpu}, len(cpus or [1]))
    if note:
        result["priority_notes"] = [note]
    return result
