"""``hubbub serve`` as a real child process, for tests that kill or signal it."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

LISTENING = re.compile(rb"listening on (http://\S+)")


@dataclass
class ServeProcess:
    process: asyncio.subprocess.Process
    url: str
    log: list[bytes] = field(default_factory=list)

    async def read_log_until(self, needle: bytes, timeout: float = 10) -> None:
        """Read the server's log (stderr) until a line containing ``needle``."""
        assert self.process.stderr is not None
        async with asyncio.timeout(timeout):
            while not any(needle in line for line in self.log):
                line = await self.process.stderr.readline()
                if not line:
                    raise EOFError(b"".join(self.log).decode())
                self.log.append(line)


@asynccontextmanager
async def serve(
    *args: str,
    env: Mapping[str, str] | None = None,
    preexec_fn: Callable[[], object] | None = None,
    wrapper: Sequence[str] = (),
) -> AsyncIterator[ServeProcess]:
    """Start ``python -m hubbub serve ARGS``; yields once it logs where it listens.
    ``preexec_fn`` runs in the child before it starts (a lower file limit, say);
    ``wrapper``: a command that runs the server (``unshare ...``), its pid being ours."""
    process = await asyncio.create_subprocess_exec(
        *wrapper,
        sys.executable,
        "-m",
        "hubbub",
        "serve",
        *args,
        stderr=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
        preexec_fn=preexec_fn,
    )
    running = ServeProcess(process, url="")
    try:
        await running.read_log_until(b"listening on")
        found = LISTENING.search(b"".join(running.log))
        assert found is not None
        running.url = found.group(1).decode()
        yield running
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()
