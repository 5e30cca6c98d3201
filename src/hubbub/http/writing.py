"""How a connection writes its answers: in request order, those ready together in one
write; when it reads (back-pressure); and when it closes once answered. Part of
:class:`~hubbub.http.connection.FrontConnection`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hubbub.http.reading import Reading
from hubbub.http.requests import log_access

if TYPE_CHECKING:
    from hubbub.http.streaming import StreamProtocol

# At most this many requests of one connection wait for their answers.
MAX_PIPELINE = 64
# What is read past a request that waits its turn (the rest stays in the socket).
READ_AHEAD = 65536


class Writing(Reading):
    """The writing side of a connection (its state is the connection's own slots)."""

    __slots__ = ("_flush_soon", "_idle_since")

    _flush_soon: bool
    _idle_since: float
    _serving: bool
    _waiting_turn: bool
    _write_paused: bool
    _attached: StreamProtocol | None

    def _serve(self) -> None:
        raise NotImplementedError

    def _answered(self) -> None:
        """An answer is ready. The only one owed goes out now; with others in flight, it
        is written with those ready in this loop iteration (a pipeline's publishes
        committed together leave in one write)."""
        if self._flush_soon:
            return
        if len(self._pending) == 1 and not self._serving:
            self._flush()
            return
        self._flush_soon = True
        self._ctx.loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_soon = False
        transport = self._transport
        pending = self._pending
        ready: list[bytes] = []
        close = False
        while pending and pending[0].data is not None:
            entry = pending.popleft()
            ready.append(entry.data)  # type: ignore[arg-type]
            if entry.access is not None:
                log_access(self._ctx, entry)
            if entry.close:
                close = True
                pending.clear()
                break
        if transport is None or not ready:
            return
        data = ready[0] if len(ready) == 1 else b"".join(ready)
        if data:
            transport.write(data)
        if close:
            self._close(transport)
            return
        if not pending:
            self._idle_since = self._ctx.loop.time()
            self._end_if_answered()
            if self._transport is not None:
                self._serve()

    def _end_if_answered(self) -> None:
        """Once nothing is pending: close if ending (at shutdown, a request that waited
        its turn is not taken), or serve a request that waited."""
        if self._pending or self._transport is None:
            return
        if self._ending:
            self._transport.close()
        elif self._waiting_turn:
            self._serve()

    def _update_reading(self) -> None:
        transport = self._transport
        if transport is None or self._attached is not None:
            return  # a stream reads as it likes
        # Ending, it still reads (and discards): a client that leaves is noticed at once.
        # Waiting its turn, it reads ahead up to READ_AHEAD bytes, so that a client that
        # leaves behind a held long poll is noticed too (its waiter released at once).
        reading = (
            len(self._pending) < MAX_PIPELINE
            and not self._write_paused
            and (not self._waiting_turn or self._ending or len(self._buffer) < READ_AHEAD)
        )
        if reading != self._reading:
            self._reading = reading
            if reading:
                transport.resume_reading()
            else:
                transport.pause_reading()
