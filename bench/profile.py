"""py-spy profiles of the server during a run, summarised for the report.

A profile is taken in a separate repeat of the run (py-spy samples from the generator's
core and would skew the measured numbers), with ``--function`` so that samples aggregate
per function, and without ``--idle``, so that the shares are of the time the server was
busy.
"""

from __future__ import annotations

import collections
import contextlib
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

RATE_HZ = 200


def py_spy() -> str | None:
    local = Path(sys.executable).with_name("py-spy")
    return str(local) if local.exists() else shutil.which("py-spy")


def start(
    pid: int, duration_s: float, out: Path, cpus: list[int] | None
) -> subprocess.Popen[bytes] | None:
    exe = py_spy()
    if exe is None:
        return None
    cmd = [
        exe,
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(max(1, round(duration_s))),
        "--rate",
        str(RATE_HZ),
        "--format",
        "raw",
        "--function",
        "--nonblocking",
        "--output",
        str(out),
    ]
    if cpus:
        cmd = ["taskset", "-c", ",".join(map(str, cpus)), *cmd]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def finish(proc: subprocess.Popen[bytes], timeout_s: float) -> str:
    """Wait for py-spy (killing it by pid past the timeout); its error output if it failed."""
    try:
        _, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.communicate(timeout=5)
        return "py-spy timed out"
    return "" if proc.returncode == 0 else err.decode(errors="replace")[-500:]


def summarise(path: Path, top: int = 15) -> dict[str, Any]:
    """Self and inclusive shares per function from py-spy's collapsed-stack output."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [f for f in stack.split(";") if not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count

    def share(counter: collections.Counter[str]) -> list[list[Any]]:
        return [[name, round(100 * n / total, 1)] for name, n in counter.most_common(top)]

    return {"samples": total, "self": share(own), "inclusive": share(inclusive)}
