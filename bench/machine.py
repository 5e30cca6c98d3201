"""What the numbers were measured on: the machine, the tools, and its scheduling noise.

The noise floor matters on a small shared VM: a cross-core ping-pong over a socket pair
(server core <-> generator core) shows how long a wake-up can take before any server
code runs. The report prints it next to every latency.
"""

from __future__ import annotations

import os
import platform
import shutil
import socket
import subprocess
import time
from typing import Any

from bench.checker import latency_summary


def _version(cmd: list[str]) -> str:
    if shutil.which(cmd[0]) is None:
        return "absent"
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    text = (out.stdout or out.stderr).strip().splitlines()
    return text[0] if text else "unknown"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def describe() -> dict[str, Any]:
    mem_kib = 0
    try:
        with open("/proc/meminfo") as f:
            mem_kib = int(f.readline().split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kib / 2**20, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "node": _version(["node", "--version"]),
        "nginx": _version(["nginx", "-v"]),
        "load_average": os.getloadavg(),
    }


def ping_pong(cores: tuple[int, int] | None, rounds: int = 2000) -> dict[str, float]:
    """Round trips of one byte between two processes on the two cores, 1 ms apart."""
    a, b = socket.socketpair()
    pid = os.fork()
    if pid == 0:  # the echoing child: only os-level calls, then _exit
        try:
            a.close()
            if cores:
                os.sched_setaffinity(0, {cores[0]})
            while data := b.recv(16):
                b.send(data)
        finally:
            os._exit(0)
    b.close()
    samples: list[int] = []
    try:
        if cores:
            os.sched_setaffinity(0, {cores[1]})
        a.settimeout(5.0)
        for _ in range(rounds):
            start = time.perf_counter_ns()
            a.send(b"x")
            a.recv(16)
            samples.append(time.perf_counter_ns() - start)
            time.sleep(0.001)
    finally:
        a.close()
        os.waitpid(pid, 0)
    return latency_summary(samples)
