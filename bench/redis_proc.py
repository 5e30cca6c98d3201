"""A real redis-server for the multi-process runs, started and stopped by the bench.

Durable as hubbub's ``--store redis`` demands (append-only file, fsync on every write),
like tests/redis_server.py. Pinned to the server's cores, so its CPU counts as the
server's; readiness is its own log line, read with a bounded timeout; stopped by pid.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench import priority

READY = "Ready to accept connections"


def command(port: int, directory: Path) -> list[str]:
    """The redis-server command line: loopback only, no snapshots, fsync always."""
    return [
        shutil.which("redis-server") or "redis-server",
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(directory),
        "--save",
        "",
        "--logfile",
        "",
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
    ]


@dataclass
class RunningRedis:
    proc: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def running(directory: Path, cpus: str | None, timeout_s: float = 10.0) -> Iterator[RunningRedis]:
    """A fresh redis-server in ``directory``, pinned to ``cpus``; always stopped by pid."""
    directory.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    cmd = command(port, directory)
    if cpus:
        cmd = ["taskset", "-c", cpus, *cmd]
    log = directory / "redis.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + timeout_s
        while READY not in log.read_text(errors="replace"):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start: {log.read_text()[-1000:]}")
            time.sleep(0.02)
        priority.renice(proc.pid, priority.SERVER_NICE)
        yield RunningRedis(proc, port)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(5.0)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5.0)
