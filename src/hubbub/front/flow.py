"""The write side of a stream's socket: paused and resumed by its transport, and waited
on while a stream catches up."""

from __future__ import annotations

import asyncio


class WriteFlow(asyncio.Protocol):
    """``pause_writing`` / ``resume_writing`` from the transport, and :meth:`writable`."""

    __slots__ = ("_writable", "_write_paused")

    # The subclass's socket (in its own slots); None once it is gone.
    _transport: asyncio.Transport | None

    def __init__(self) -> None:
        self._write_paused = False
        self._writable: asyncio.Future[None] | None = None

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        waiter, self._writable = self._writable, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _writer_gone(self) -> None:
        """The socket is gone: a stream waiting to write is told so."""
        waiter, self._writable = self._writable, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(ConnectionResetError("Connection lost"))

    async def writable(self) -> None:
        """Returns once the transport takes writes again (at once unless it is paused)."""
        if self._transport is None:
            raise ConnectionResetError("Connection lost")
        if not self._write_paused:
            return
        waiter = self._writable
        if waiter is None or waiter.done():
            waiter = self._writable = asyncio.get_running_loop().create_future()
        await waiter
