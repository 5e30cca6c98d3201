"""The servers under test: how to start each one pinned to its core, and stop it by pid.

Every server is started here with ``taskset``, announces readiness (hubbub's and the
peers' own ``listening on http://...`` line, or for nginx an accepted connection), is
measured through psutil (CPU time and proportional memory of its whole process tree),
and is stopped by its process id, children included, also on errors and timeouts.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

# Typed when types-psutil is installed, Any otherwise: both pass mypy --strict.
import psutil  # type: ignore[import-untyped, unused-ignore]

from bench import priority, redis_proc
from bench.dialects import Transport
from bench.peers import nchan

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
NODE_DIR = BENCH_DIR / "peers" / "node"
_READY = re.compile(r"http://127\.0\.0\.1:(\d+)")


@dataclass(frozen=True)
class ServerSpec:
    """One server under test."""

    name: str
    label: str  # what the report calls it
    dialect: str
    transports: frozenset[Transport]
    http_publish: bool = True
    ws_publish: bool = True
    env: tuple[tuple[str, str], ...] = ()
    store: str = ""  # hubbub only: memory, sqlite or redis
    # hubbub only: processes on one port (--workers, given every core), a Redis the bench
    # starts (--redis, its CPU counted as the server's), another interpreter's venv.
    workers: int = 1
    redis: bool = False
    python: str = ""

    def command(self, workdir: Path, redis_url: str = "") -> list[str]:
        py = self.python or sys.executable
        if self.dialect == "hubbub":
            db = str(workdir / "hubbub.db")
            store = self.store or "memory"
            scale = ["--workers", str(self.workers)] if self.workers > 1 else []
            scale += ["--redis", redis_url] if redis_url else []
            return [
                py,
                "-m",
                "hubbub",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--store",
                store,
                "--db",
                db,
                *scale,
            ]
        node = {"node-ws": "ws_server.js", "socketio": "socketio_server.js", "uws": "uws_server.js"}
        if self.name in node:
            return ["node", str(NODE_DIR / node[self.name]), "--port", "0"]
        module = {"py-websockets": "py_websockets", "py-socketio": "py_socketio"}[self.name]
        return [py, "-m", f"bench.peers.{module}", "--port", "0"]


_WS = frozenset({Transport.WS})
# Heartbeats are pushed past any run for every server (Nchan's pings are off, the peers'
# likewise): none of them spends a run's time on keep-alive traffic.
# The connection cap (default 10,000) is raised past the 10,000-subscriber runs plus
# their probes and publisher; the peers have no such cap.
# Every generator connects from 127.0.0.1: the per-address cap is raised with the cap.
_HUBBUB_ENV = (
    ("HUBBUB_HEARTBEAT", "600"),
    ("HUBBUB_MAX_CONNECTIONS", "30000"),
    ("HUBBUB_MAX_CONNECTIONS_PER_IP", "30000"),
)

_ALL = frozenset(Transport)
# hubbub variants, each compared with the plain server in runs of its own scenario
# (bench/scenarios.py: scale for issue 10, levers for issue 13). "x2" runs two whole
# nodes on one port (--workers 2); they share Redis as broker (and as store with
# --store redis), and the SQLite file otherwise.
_VARIANTS = (
    ServerSpec("hubbub-w2", "hubbub x2 workers (SQLite + Redis broker)", "hubbub", _ALL,
               env=_HUBBUB_ENV, store="sqlite", workers=2, redis=True),
    ServerSpec("hubbub-redis", "hubbub (Redis store)", "hubbub", _ALL,
               env=_HUBBUB_ENV, store="redis", redis=True),
    ServerSpec("hubbub-redis-w2", "hubbub x2 nodes (Redis store)", "hubbub", _ALL,
               env=_HUBBUB_ENV, store="redis", workers=2, redis=True),
    ServerSpec("hubbub-sqlite-normal", "hubbub (SQLite, synchronous=NORMAL)", "hubbub", _ALL,
               env=(*_HUBBUB_ENV, ("HUBBUB_SQLITE_SYNC", "normal")), store="sqlite"),
    ServerSpec("hubbub-gc-off", "hubbub (memory, GC not tuned)", "hubbub", _ALL,
               env=(*_HUBBUB_ENV, ("HUBBUB_GC_TUNE", "0")), store="memory"),
    *(
        ServerSpec(f"hubbub-py{v}", f"hubbub (memory) on Python 3.{v[1:]}", "hubbub", _ALL,
                   env=_HUBBUB_ENV, store="memory", python=str(REPO / f".venv-py{v}/bin/python"))
        for v in ("312", "313")
    ),
)  # fmt: skip

SERVERS: dict[str, ServerSpec] = {
    s.name: s
    for s in (
        ServerSpec(
            "hubbub",
            "hubbub (memory)",
            "hubbub",
            frozenset(Transport),
            env=_HUBBUB_ENV,
            store="memory",
        ),
        ServerSpec(
            "hubbub-sqlite",
            "hubbub (SQLite)",
            "hubbub",
            frozenset(Transport),
            env=_HUBBUB_ENV,
            store="sqlite",
        ),
        *_VARIANTS,
        ServerSpec(
            "nchan",
            "nginx + Nchan",
            "nchan",
            frozenset({Transport.WS, Transport.SSE, Transport.LONGPOLL}),
            ws_publish=False,
        ),
        ServerSpec("uws", "uWebSockets.js", "peer", _WS),
        ServerSpec("node-ws", "Node ws", "peer", _WS),
        ServerSpec("socketio", "Socket.IO (Node)", "socketio", _WS),
        ServerSpec("py-websockets", "websockets (Python)", "peer", _WS, http_publish=False),
        ServerSpec("py-socketio", "python-socketio + uvicorn", "socketio", _WS),
    )
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RunningServer:
    spec: ServerSpec
    proc: subprocess.Popen[bytes]
    port: int
    workdir: Path
    tree: list[psutil.Process] = field(default_factory=list)
    priority_notes: list[str] = field(default_factory=list)  # renicing that was refused
    companions: list[psutil.Process] = field(default_factory=list)  # its Redis, if any

    @property
    def pid(self) -> int:
        return self.proc.pid

    def refresh_tree(self) -> list[psutil.Process]:
        """The server process and its children (nginx workers), remembered for stopping."""
        try:
            root = psutil.Process(self.proc.pid)
            tree = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            tree = []
        known = {p.pid for p in self.tree}
        self.tree.extend(p for p in tree if p.pid not in known)
        return tree

    def cpu_seconds(self) -> float:
        total = 0.0
        for proc in [*self.refresh_tree(), *self.companions]:
            with contextlib.suppress(psutil.NoSuchProcess):
                t = proc.cpu_times()
                total += t.user + t.system
        return total

    def memory_bytes(self) -> int:
        """Proportional set size of the tree: shared pages (Nchan's shm) counted once."""
        total = 0
        for proc in [*self.refresh_tree(), *self.companions]:
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                total += proc.memory_full_info().pss
        return total

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = (self.workdir / "server.log").read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def _wait_ready(
    proc: subprocess.Popen[bytes], log: Path, port: int | None, timeout_s: float
) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {log.read_text()[-2000:]}")
        if port is None:
            match = _READY.search(log.read_text(errors="replace"))
            if match:
                return int(match.group(1))
        else:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                return port
        time.sleep(0.05)
    raise TimeoutError(f"server not ready after {timeout_s:g} s: {log.read_text()[-2000:]}")


@contextlib.contextmanager
def running(spec: ServerSpec, workdir: Path, cpus: str | None) -> Iterator[RunningServer]:
    """Start ``spec`` pinned to ``cpus`` (a taskset list) and always stop it by pid."""
    workdir.mkdir(parents=True, exist_ok=True)
    cpus = server_cpus(spec, cpus)
    with contextlib.ExitStack() as stack:
        redis = (
            stack.enter_context(redis_proc.running(workdir / "redis", cpus)) if spec.redis else None
        )
        with _running(spec, workdir, cpus, redis) as server:
            yield server


def server_cpus(spec: ServerSpec, cpus: str | None) -> str | None:
    """The server's taskset list: several workers get every core, the generator's too."""
    if not cpus or spec.workers == 1:
        return cpus
    return ",".join(str(c) for c in range(os.cpu_count() or 1))


@contextlib.contextmanager
def _running(
    spec: ServerSpec, workdir: Path, cpus: str | None, redis: redis_proc.RunningRedis | None
) -> Iterator[RunningServer]:
    log = workdir / "server.log"
    fixed_port: int | None = None
    if spec.dialect == "nchan":
        fixed_port = free_port()
        cmd = nchan.command(nchan.write_config(workdir / "nginx", fixed_port))
    else:
        cmd = spec.command(workdir, redis.url if redis else "")
    if cpus:
        cmd = ["taskset", "-c", cpus, *cmd]
    env = {**os.environ, **dict(spec.env), "PYTHONPATH": str(REPO)}
    with log.open("wb") as out:
        # A session of its own: with autogroup scheduling the server is then one group,
        # whose priority the suite sets (see bench/priority.py).
        proc = subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    server = RunningServer(spec, proc, 0, workdir)
    if redis is not None:
        server.companions.append(psutil.Process(redis.proc.pid))
    try:
        server.port = _wait_ready(proc, log, fixed_port, 30.0)
        for member in server.refresh_tree():  # nginx: the master and its worker
            if note := priority.renice(member.pid, priority.SERVER_NICE):
                server.priority_notes.append(note)
        yield server
    finally:
        stop(server)


def stop(server: RunningServer, timeout_s: float = 5.0) -> None:
    """SIGTERM the server's pid, wait, then SIGKILL it and any child left behind."""
    server.refresh_tree()
    proc = server.proc
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout_s)
    for child in server.tree:
        if child.pid == proc.pid:
            continue
        with contextlib.suppress(psutil.NoSuchProcess):
            if child.is_running() and child.status() != psutil.STATUS_ZOMBIE:
                child.kill()
