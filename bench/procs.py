"""Load generator processes as seen from the orchestrator: spawn, call, stop by pid."""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import time
from multiprocessing.process import BaseProcess
from typing import Any

from bench import worker


class WorkerError(RuntimeError):
    """A generator process failed a command or did not answer in time."""


class WorkerHandle:
    """One generator process and the pipe to it."""

    _ids = itertools.count(1)

    def __init__(self, name: str, spec: dict[str, Any]) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.name = name
        self.conn, child = ctx.Pipe()
        self.proc: BaseProcess = ctx.Process(
            target=worker.main, args=(child, spec), name=name, daemon=True
        )
        self.proc.start()
        child.close()
        self._replies: dict[int, dict[str, Any]] = {}

    def send(self, command: str, **args: Any) -> int:
        ident = next(self._ids)
        self.conn.send((ident, command, args))
        return ident

    def wait(self, ident: int, timeout_s: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while ident not in self._replies:
            left = deadline - time.monotonic()
            if left <= 0 or not self.conn.poll(left):
                raise WorkerError(f"{self.name}: no answer within {timeout_s:g} s")
            try:
                got, reply = self.conn.recv()
            except EOFError:
                raise WorkerError(f"{self.name}: process died") from None
            self._replies[got] = reply
        reply = self._replies.pop(ident)
        if "error" in reply:
            raise WorkerError(f"{self.name}: {reply['error']}\n{reply.get('trace', '')}")
        return reply

    def call(self, command: str, timeout_s: float = 60.0, **args: Any) -> dict[str, Any]:
        return self.wait(self.send(command, **args), timeout_s)

    def stop(self) -> None:
        """Ask the process to exit; kill it by pid if it does not within a few seconds."""
        with contextlib.suppress(OSError, WorkerError):
            self.call("exit", timeout_s=5.0)
        self.proc.join(5.0)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(5.0)
        self.conn.close()


def call_all(
    handles: list[WorkerHandle], command: str, timeout_s: float = 60.0, **args: Any
) -> list[dict[str, Any]]:
    """The same command to every process at once; their answers in order."""
    idents = [h.send(command, **args) for h in handles]
    return [h.wait(i, timeout_s) for h, i in zip(handles, idents, strict=True)]
