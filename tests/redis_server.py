"""A real ``redis-server`` for tests: a free port, a temporary data directory, fsync always.

``running_redis(tmp_path)`` starts one and stops it by its pid. The same server can be stopped
and started again on the same port with the same data (a Redis restart), and flushed (a Redis
that lost its data). Readiness is its own log line, read with a bounded timeout.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from redis.asyncio import Redis

REDIS_SERVER = shutil.which("redis-server")
needs_redis = pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server is not installed")
READY = b"Ready to accept connections"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class RedisServer:
    """One redis-server process (restartable) with its port and data directory."""

    directory: Path
    port: int = field(default_factory=free_port)
    settings: Sequence[str] = ("--appendonly", "yes", "--appendfsync", "always")
    process: asyncio.subprocess.Process | None = None
    log: list[bytes] = field(default_factory=list)
    # A configuration file read first (the options above override it), as an operator's
    # redis-server FILE would.
    config: Path | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self, timeout: float = 10) -> None:
        """Start on this port and directory; returns once it accepts connections."""
        assert REDIS_SERVER is not None and self.process is None
        self.log.clear()
        self.process = await asyncio.create_subprocess_exec(
            REDIS_SERVER,
            *([str(self.config)] if self.config is not None else []),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.directory),
            "--save",
            "",
            "--logfile",
            "",
            *self.settings,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        assert self.process.stdout is not None
        async with asyncio.timeout(timeout):
            while not any(READY in line for line in self.log):
                line = await self.process.stdout.readline()
                if not line:
                    raise EOFError(b"".join(self.log).decode())
                self.log.append(line)
        # Keep draining its log so a chatty server never blocks on a full pipe.
        self._drain = asyncio.create_task(self._read_rest(self.process.stdout))

    async def _read_rest(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            self.log.append(line)

    async def stop(self, *, kill: bool = False, timeout: float = 10) -> None:
        """Stop the process by its pid (SIGKILL: as if the machine lost it) and wait for it."""
        process, self.process = self.process, None
        if process is None:
            return
        if process.returncode is None:
            process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        async with asyncio.timeout(timeout):
            await process.wait()
            await self._drain

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    def client(self) -> Redis:
        return Redis.from_url(self.url, socket_timeout=5)

    async def command(self, *args: str) -> object:
        """Run one command on a connection of its own (FLUSHALL, CONFIG SET, CLIENT KILL)."""
        async with self.client() as client:
            return await client.execute_command(*args)  # type: ignore[no-untyped-call]


@asynccontextmanager
async def running_redis(
    directory: Path, settings: Sequence[str] | None = None
) -> AsyncIterator[RedisServer]:
    """A started redis-server in ``directory``, stopped (by pid) when the block ends."""
    os.makedirs(directory, exist_ok=True)
    server = RedisServer(directory)
    if settings is not None:
        server.settings = settings
    await server.start()
    try:
        yield server
    finally:
        await server.stop(kill=True)
