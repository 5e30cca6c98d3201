"""``hubbub serve --workers N``: N processes serving one port, and the parent that runs them.

Each worker is a whole node (its own event loop, store connection and broker) listening on
the same port with ``SO_REUSEPORT``, so the kernel spreads new connections over them; Redis
carries messages between them as between nodes on different machines.

The parent starts the workers, logs one ``listening on`` line once every worker listens,
forwards SIGTERM and SIGINT to them, and exits 0 once they all stopped cleanly. A worker
that dies is never restarted silently, nor at all: the parent logs which one and how,
stops the others and exits 1, so the service manager (systemd's ``Restart=on-failure``)
restarts the whole group and counts the failures. Clients reconnect to the new workers
and resume from their cursors.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from types import FrameType

from hubbub.settings import Settings

log = logging.getLogger("hubbub")

# How long a worker may take to listen (imports, connecting to Redis, opening the store).
START_TIMEOUT = 30.0
# An orphaned worker exits at the latest this long after its shutdown timeout.
ORPHAN_GRACE = 10.0


@dataclass
class Worker:
    index: int
    process: BaseProcess
    ready: Connection
    alive: Connection  # held open by the parent; its end tells the worker the parent is gone
    listening: bool = False


def _worker_main(index: int, settings: Settings, ready: Connection, parent: Connection) -> None:
    """A worker process: serve until SIGTERM, telling the parent once it listens.

    ``parent`` is the read end of a pipe only the parent writes to: when the parent dies
    (even by kill -9) it reads EOF and the worker stops, so no orphan keeps the port.
    """
    import asyncio

    from hubbub.commands.logs import configure_logging
    from hubbub.commands.running import run_server
    from hubbub.server import Server

    configure_logging()
    # Each worker is a node of its own on the operations page, named after the server.
    settings = replace(
        settings, node_name=f"{settings.node_name or socket.gethostname()}/worker-{index}"
    )

    def parent_gone() -> None:
        asyncio.get_running_loop().remove_reader(parent.fileno())
        log.error("hubbub worker %d: the parent process is gone; stopping", index)
        # An orphan must not keep the port and the database's lock: past the time a clean
        # stop takes, it exits whatever still runs (a thread: the loop may be what hangs).
        watchdog = threading.Timer(settings.shutdown_timeout + ORPHAN_GRACE, _exit_now, (index,))
        watchdog.daemon = True
        watchdog.start()
        os.kill(os.getpid(), signal.SIGTERM)

    def tell_parent(server: Server) -> None:
        asyncio.get_running_loop().add_reader(parent.fileno(), parent_gone)
        # Logged before the parent hears, so it comes before the parent's line.
        log.info("hubbub worker %d (pid %d) listening", index, os.getpid())
        ready.send(getattr(server.node.store, "durable", True))

    sys.exit(run_server(settings, tell_parent))


def _exit_now(index: int) -> None:
    log.error("hubbub worker %d: did not stop in time after its parent died; exiting", index)
    os._exit(1)


def _reserve_port(settings: Settings) -> tuple[Settings, socket.socket | None]:
    """With ``--port 0``, pick the port once for all workers: a bound socket that never
    listens holds it (with SO_REUSEPORT, so the workers may bind it too)."""
    if settings.port != 0:
        return settings, None
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    holder = socket.socket(family, socket.SOCK_STREAM)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    holder.bind((settings.host, 0))
    return replace(settings, port=holder.getsockname()[1]), holder


def _describe_exit(process: BaseProcess) -> str:
    code = process.exitcode
    if code is not None and code < 0:
        return f"was killed by {signal.Signals(-code).name}"
    return f"exited with status {code}"


class Supervisor:
    """The parent: starts workers, waits on them and on signals, stops them."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.workers: list[Worker] = []
        self.stop_signal: int | None = None
        self.durable = True  # every worker's store keeps every acknowledged write
        self._wake_read, self._wake_write = socket.socketpair()
        self._wake_read.setblocking(False)
        self._wake_write.setblocking(False)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.stop_signal = signum

    def _on_hangup(self, signum: int, frame: FrameType | None) -> None:
        """SIGHUP is for the workers (they read their key files again)."""
        for worker in self.workers:
            if worker.process.pid is not None and worker.process.exitcode is None:
                os.kill(worker.process.pid, signal.SIGHUP)

    def start(self) -> None:
        signal.set_wakeup_fd(self._wake_write.fileno())
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._on_signal)
        signal.signal(signal.SIGHUP, self._on_hangup)
        context = multiprocessing.get_context("spawn")
        for index in range(1, self.settings.workers + 1):
            receive, send = context.Pipe(duplex=False)
            watch, alive = context.Pipe(duplex=False)
            settings = replace(self.settings, worker=index)
            process = context.Process(
                target=_worker_main,
                args=(index, settings, send, watch),
                name=f"hubbub-worker-{index}",
            )
            process.start()
            send.close()
            watch.close()
            self.workers.append(Worker(index, process, receive, alive))

    def _wait(self, timeout: float | None) -> None:
        """Until a worker says something or exits, a signal arrives, or ``timeout``."""
        waiting: list[object] = [self._wake_read]
        for worker in self.workers:
            waiting.append(worker.process.sentinel)
            if not worker.listening:
                waiting.append(worker.ready)
        wait(waiting, timeout)  # type: ignore[arg-type]
        while True:
            try:
                if not self._wake_read.recv(64):
                    break
            except BlockingIOError:
                break

    def _dead(self) -> Worker | None:
        return next((w for w in self.workers if w.process.exitcode is not None), None)

    def run_until_listening(self) -> bool:
        """True once every worker listens; False if one died, a signal came, or time ran out."""
        deadline = time.monotonic() + START_TIMEOUT
        while not all(w.listening for w in self.workers):
            if self.stop_signal is not None or self._dead() is not None:
                return False
            left = deadline - time.monotonic()
            if left <= 0:
                log.error("hubbub: workers did not listen within %g s", START_TIMEOUT)
                return False
            self._wait(left)
            for worker in self.workers:
                if not worker.listening and worker.ready.poll():
                    try:
                        self.durable = bool(worker.ready.recv()) and self.durable
                    except EOFError:
                        continue  # it exited before listening: found dead above
                    worker.listening = True
        return True

    def run_until_stopped(self) -> Worker | None:
        """Until a signal (None) or a worker's death (that worker)."""
        while self.stop_signal is None:
            dead = self._dead()
            if dead is not None:
                return dead
            self._wait(None)
        return None

    def stop_all(self) -> bool:
        """SIGTERM every live worker, wait for them (SIGKILL past the grace); True if all
        exited 0."""
        for worker in self.workers:
            if worker.process.exitcode is None and worker.process.pid is not None:
                os.kill(worker.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.settings.shutdown_timeout + 10
        for worker in self.workers:
            worker.process.join(max(0.0, deadline - time.monotonic()))
            if worker.process.exitcode is None:
                log.error("hubbub: worker %d did not stop in time; killing it", worker.index)
                worker.process.kill()
                worker.process.join()
        return all(worker.process.exitcode == 0 for worker in self.workers)

    def close(self) -> None:
        signal.set_wakeup_fd(-1)
        self._wake_read.close()
        self._wake_write.close()
        for worker in self.workers:
            worker.ready.close()
            worker.alive.close()


def _metrics_dir() -> str:
    """Where the workers keep their counters for each other's /metrics (memory-backed
    where the machine has /dev/shm; private to this user)."""
    shm = "/dev/shm"
    return tempfile.mkdtemp(prefix="hubbub-metrics-", dir=shm if os.path.isdir(shm) else None)


def run_workers(settings: Settings) -> int:
    """Run ``settings.workers`` workers on one port until SIGTERM/SIGINT; the exit status."""
    settings, holder = _reserve_port(settings)
    settings = replace(settings, metrics_dir=_metrics_dir())
    supervisor = Supervisor(settings)
    try:
        supervisor.start()
        if not supervisor.run_until_listening():
            dead = supervisor._dead()
            if dead is not None:
                log.error(
                    "hubbub: worker %d %s while starting", dead.index, _describe_exit(dead.process)
                )
            supervisor.stop_all()
            return 1 if supervisor.stop_signal is None else 0
        host = f"[{settings.host}]" if ":" in settings.host else settings.host
        log.info(
            "hubbub listening on http://%s:%d (store: %s, %d workers)",
            host,
            settings.port,
            settings.describe_store(durable=supervisor.durable),
            settings.workers,
        )
        dead = supervisor.run_until_stopped()
        if dead is not None:
            log.error(
                "hubbub: worker %d (pid %s) %s; stopping the others (not restarted: "
                "the service manager restarts the whole server)",
                dead.index,
                dead.process.pid,
                _describe_exit(dead.process),
            )
            supervisor.stop_all()
            return 1
        log.info("hubbub stopping %d workers", settings.workers)
        clean = supervisor.stop_all()
        log.info("hubbub stopped")
        return 0 if clean else 1
    finally:
        supervisor.close()
        if holder is not None:
            holder.close()
        assert settings.metrics_dir is not None
        shutil.rmtree(settings.metrics_dir, ignore_errors=True)
