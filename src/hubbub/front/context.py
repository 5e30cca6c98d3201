"""What every lean connection of one listening server shares, and its shutdown."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from hubbub.access_log import StreamAccess
from hubbub.front.answers import DateHeader, origin_headers
from hubbub.front.head import Head, Route
from hubbub.transports.cors import allowed_origin_for

if TYPE_CHECKING:
    from hubbub.connections import ConnectionGuard
    from hubbub.node import Node

# Builds aiohttp's handler for a connection handed over, admitted for its address.
MakeHandler = Callable[[str], asyncio.Protocol]


class LeanConnection(Protocol):
    """A connection the lean path owns (a ``FrontConnection``, or a stream's protocol)."""

    def begin_close(self) -> None:
        """The server stops: finish what is owed, then close."""

    def abort(self) -> None: ...


class StreamStart:
    """A WebSocket or SSE request the lean path hands to its stream's protocol.

    The starter (``FrontContext.starters[route.kind]``) either raises a
    ``ProtocolError`` before anything is written (the front answers it in JSON), or
    takes the socket: it sets the transport's protocol, owns the connection's place
    under ``ctx.guard`` (releasing ``address`` when it closes), and reads
    ``leftover``, what the client sent after the head.
    """

    __slots__ = ("access", "address", "ctx", "head", "leftover", "route", "transport")

    def __init__(
        self,
        ctx: FrontContext,
        transport: asyncio.Transport,
        address: str,
        head: Head,
        route: Route,
        leftover: bytes,
    ) -> None:
        self.ctx = ctx
        self.transport = transport
        self.address = address
        self.head = head
        self.route = route
        self.leftover = leftover
        # The access log's line for the stream, written when it ends (None: no log).
        self.access: StreamAccess | None = None
        if ctx.access_log is not None:
            target = head.url.decode("latin-1")
            self.access = StreamAccess(ctx.access_log, address, head.method, target)


StreamStarter = Callable[[StreamStart], None]


class FrontContext:
    """The node, the connection guard, the settings the lean path reads, and its
    connections (so that shutdown can answer and close them)."""

    __slots__ = (
        "_all_closed",
        "_date",
        "_origins",
        "access_log",
        "body_timeout",
        "closing",
        "connections",
        "guard",
        "idle_timeout",
        "loop",
        "make_handler",
        "node",
        "settings",
        "starters",
    )

    def __init__(
        self,
        node: Node,
        guard: ConnectionGuard,
        make_handler: MakeHandler,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.node = node
        self.settings = node.settings
        self.guard = guard
        self.make_handler = make_handler
        self.loop = loop
        self.idle_timeout = node.settings.idle_timeout
        self.body_timeout = node.settings.body_timeout
        self._origins = node.settings.allow_origin
        self.connections: set[LeanConnection] = set()
        self.closing = False
        self._date = DateHeader()
        self._all_closed: asyncio.Event | None = None
        # Lean streams by route kind (front/head.py: WEBSOCKET, EVENTS); a kind with
        # none is handed to aiohttp.
        self.starters: dict[str, StreamStarter] = {}
        # The access log (access_log.py), or None: nothing is measured for it then.
        self.access_log: logging.Logger | None = None

    def date(self) -> bytes:
        return self._date.at(time.time())

    def allowed_origin(self, origin: str | None) -> str | None:
        if self._origins is None:
            return None
        return allowed_origin_for(self._origins, origin)

    def cors(self, head: Head) -> bytes:
        """The CORS header lines of an answer to ``head``: none unless ``--allow-origin``
        allows its ``Origin``."""
        return origin_headers(self.allowed_origin(head.headers.get("origin")))

    def forget(self, connection: LeanConnection, address: str | None) -> None:
        """``connection`` no longer holds its socket: out of the set shutdown waits on, and
        its place under the guard given back for ``address`` (None: another protocol owns
        the socket and its place now). Once only: a connection not in the set is skipped."""
        if connection not in self.connections:
            return
        self.connections.discard(connection)
        if address is not None:
            self.guard.release(address)
        self.note_closed()

    def note_closed(self) -> None:
        if self._all_closed is not None and not self.connections:
            self._all_closed.set()

    async def shutdown(self, timeout: float) -> None:
        """Answer and close every lean connection; abort those still open after ``timeout``.

        Runs after the node began its shutdown, so held long polls are being answered."""
        self.closing = True
        self._all_closed = asyncio.Event()
        for connection in list(self.connections):
            connection.begin_close()
        self.note_closed()
        try:
            async with asyncio.timeout(timeout):
                await self._all_closed.wait()
        except TimeoutError:
            for connection in list(self.connections):
                connection.abort()
