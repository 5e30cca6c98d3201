"""A TCP gate between a client and a server: a real forwarder the test can shut and open.

A client pointed at the gate reaches the server through it while it is open. Shut,
it cuts every connection through it and every new one at once, as a network that
went away would, so a test decides exactly when a client can reconnect (say, only
after a restarted server was given new messages) without waiting on any timer.
"""

from __future__ import annotations

import asyncio
from types import TracebackType

CHUNK = 64 * 1024


class Gate:
    """Forwards ``127.0.0.1:<port>`` (a free port) to ``127.0.0.1:<target>``."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.is_open = True
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def port(self) -> int:
        assert self._server is not None
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> Gate:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        self.shut()
        for task in list(self._links):
            task.cancel()
        await asyncio.gather(*self._links, return_exceptions=True)
        await self._server.wait_closed()

    def shut(self) -> None:
        """Cut every connection through the gate, and every new one until :meth:`open`."""
        self.is_open = False
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    def open(self) -> None:
        self.is_open = True

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.is_open:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:
            writer.transport.abort()  # nothing listens there: the client sees a cut
            return
        if not self.is_open:  # shut while connecting
            writer.transport.abort()
            up_writer.transport.abort()
            return
        self._writers.update((writer, up_writer))
        task = asyncio.current_task()
        assert task is not None
        self._links.add(task)
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            self._links.discard(task)
            for end in (writer, up_writer):
                self._writers.discard(end)
                end.transport.abort()


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    """Copy until end of stream or a cut; then end the other direction too."""
    try:
        while chunk := await source.read(CHUNK):
            sink.write(chunk)
            await sink.drain()
    except OSError:
        pass
    finally:
        sink.transport.abort()
