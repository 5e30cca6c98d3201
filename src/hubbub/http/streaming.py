"""Answers that outlive one write: a stream that runs on the connection (:class:`Takeover`:
WebSocket, the room's SSE), and a body written over time on the connection
(:class:`Streamed`: the operations page's SSE, the tutorial dialect's).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol

from hubbub.access_log import StreamAccess

if TYPE_CHECKING:
    from hubbub.http.context import ServerContext
    from hubbub.http.head import Request


class StreamRoute:
    """The room and query a stream was asked for (``params["room"]``; ``""`` for none)."""

    __slots__ = ("query", "room")

    def __init__(self, room: str, query: dict[str, str]) -> None:
        self.room = room
        self.query = query


class StreamProtocol(Protocol):
    """A stream's side of the socket: what the connection hands it while it is attached."""

    def data_received(self, data: bytes) -> None: ...

    def eof_received(self) -> bool | None: ...

    def pause_writing(self) -> None: ...

    def resume_writing(self) -> None: ...

    def connection_lost(self, exc: Exception | None) -> None: ...

    def begin_close(self) -> None: ...


class StreamOwner(Protocol):
    """The connection a stream runs on (``connection.py: FrontConnection``)."""

    def attach(self, stream: StreamProtocol) -> None:
        """From now on the socket's reads, write pauses and its loss go to ``stream``."""

    def detach(self, unread: bytes) -> None:
        """The stream ended with the connection open: the connection serves requests
        again, ``unread`` (what the client sent meanwhile) first."""


class StreamStart:
    """A request whose stream runs on the connection, once the answers before it are out.

    The starter either raises a ``ProtocolError`` before anything is written (the
    connection answers it in JSON and closes), or starts the stream and ``owner.attach``es
    it: the connection stays the socket's protocol, and its place under ``ctx.guard``
    stays the connection's, but what the socket reads and its loss go to the stream.
    ``leftover``: what the client sent after the head (a WebSocket's first frames).
    """

    __slots__ = ("access", "address", "ctx", "head", "leftover", "owner", "route", "transport")

    def __init__(
        self,
        ctx: ServerContext,
        transport: asyncio.Transport,
        address: str,
        head: Request,
        leftover: bytes,
        owner: StreamOwner,
    ) -> None:
        self.ctx = ctx
        self.transport = transport
        self.address = address
        self.head = head
        self.route = StreamRoute(head.params.get("room", ""), head.query)
        self.leftover = leftover
        self.owner = owner
        # The access log's line for the stream, written when it ends (None: no log).
        self.access: StreamAccess | None = None
        if ctx.access_log is not None:
            self.access = StreamAccess(ctx.access_log, address, head.method, head.target)


StreamStarter = Callable[[StreamStart], None]


class Takeover:
    """A route's answer that is a stream owning the socket (``start``, given a
    :class:`StreamStart`, checks the request and takes it)."""

    __slots__ = ("start",)

    def __init__(self, start: StreamStarter) -> None:
        self.start = start


class BodyWriter:
    """What a :class:`Streamed` answer writes with: each ``write`` a chunk (HTTP/1.1), and
    ``drain`` returns once the transport takes writes again."""

    __slots__ = ("_chunked", "_flow", "_transport", "sent")

    def __init__(self, transport: asyncio.Transport, chunked: bool, flow: Drainable) -> None:
        self._transport = transport
        self._chunked = chunked
        self._flow = flow
        self.sent = 0

    def write(self, data: bytes) -> None:
        if not data or self._transport.is_closing():
            return
        if self._chunked:
            data = b"%x\r\n%s\r\n" % (len(data), data)
        self.sent += len(data)
        self._transport.write(data)

    async def drain(self) -> None:
        if self._transport.is_closing():
            raise ConnectionResetError("the client left")
        await self._flow.writable()

    def abort(self) -> None:
        self._transport.abort()


class Drainable:
    """What a :class:`BodyWriter` waits on (the connection)."""

    __slots__ = ()

    async def writable(self) -> None:
        raise NotImplementedError


class Streamed:
    """An answer whose body ``produce`` writes over time, on the connection itself (which
    serves what was pipelined after it once it ends). ``HEAD`` gets the head alone."""

    __slots__ = ("content_type", "headers", "produce", "status")

    def __init__(
        self,
        produce: Callable[[BodyWriter], Awaitable[None]],
        *,
        content_type: str,
        headers: list[tuple[str, str]] | None = None,
        status: int = 200,
    ) -> None:
        self.produce = produce
        self.content_type = content_type
        self.headers = headers if headers is not None else []
        self.status = status
