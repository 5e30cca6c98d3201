"""A TCP proxy in front of a test server, doing to requests what a real proxy might.

Only the front upgrades a connection to WebSocket, and no aiohttp middleware sees that
request, so tests that need a proxy which refuses, cuts, silences or holds WebSocket
upgrades run this one: real sockets on both sides, each request head read (bodies by
``Content-Length``) and passed to ``decide``, which answers with an :data:`Action`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

# None: pass it on; bytes: answer them and close; ABORT: cut the connection at once;
# SILENT: pass it on, then pass nothing more of the server's after its answer's head.
Action = bytes | str | None
ABORT, SILENT = "abort", "silent"
Decide = Callable[[bytes], Awaitable[Action]]


def is_upgrade(head: bytes) -> bool:
    return b"\r\nupgrade: websocket" in head.lower()


def answer(status: str, text: str) -> bytes:
    body = text.encode()
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode() + body


class Proxy:
    """Listens on a free port of 127.0.0.1 and forwards to ``target_port``."""

    def __init__(self, target_port: int, decide: Decide) -> None:
        self._target = target_port
        self._decide = decide
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> Proxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in tuple(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _serve(self, client: asyncio.StreamReader, to_client: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        silent = asyncio.Event()
        try:
            server, to_server = await asyncio.open_connection("127.0.0.1", self._target)
        except OSError:
            to_client.close()
            self._tasks.discard(task)
            return
        down = asyncio.create_task(self._down(server, to_client, silent))
        self._tasks.add(down)
        try:
            await self._up(client, to_server, to_client, silent)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            to_server.close()  # the server then closes its side, which ends ``down``
            with contextlib.suppress(asyncio.CancelledError):
                await down
            to_client.close()
            self._tasks.discard(task)
            self._tasks.discard(down)

    async def _up(
        self,
        client: asyncio.StreamReader,
        to_server: asyncio.StreamWriter,
        to_client: asyncio.StreamWriter,
        silent: asyncio.Event,
    ) -> None:
        while True:
            head = await client.readuntil(b"\r\n\r\n")
            action = await self._decide(head)
            if action == ABORT:
                to_client.transport.abort()
                return
            if isinstance(action, bytes):
                to_client.write(action)
                await to_client.drain()
                return
            if action == SILENT:
                silent.set()
            to_server.write(head)
            if is_upgrade(head):
                while data := await client.read(65536):  # frames, both ways, from now on
                    to_server.write(data)
                return
            length = 0
            for line in head.split(b"\r\n"):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if length:
                to_server.write(await client.readexactly(length))

    async def _down(
        self, server: asyncio.StreamReader, to_client: asyncio.StreamWriter, silent: asyncio.Event
    ) -> None:
        seen = b""
        try:
            await self._forward(server, to_client, silent, seen)
        finally:
            to_client.close()  # the server closed: so does the client's side, as it would

    async def _forward(
        self,
        server: asyncio.StreamReader,
        to_client: asyncio.StreamWriter,
        silent: asyncio.Event,
        seen: bytes,
    ) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await server.read(65536):
                if silent.is_set():
                    # Answers before it are out (no client pipelines an upgrade): the next
                    # bytes start the 101; its head goes through, nothing after it.
                    seen += data
                    end = seen.find(b"\r\n\r\n")
                    if end >= 0:
                        to_client.write(seen[: end + 4])
                        while await server.read(65536):
                            pass
                        return
                    continue
                to_client.write(data)
