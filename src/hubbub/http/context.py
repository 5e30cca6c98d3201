"""What every connection of one listening server shares, and its shutdown."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol

from hubbub.errors import ProtocolError
from hubbub.http.answers import DateHeader, header_lines
from hubbub.http.cors import allowed_origin_for, origin_header_pairs
from hubbub.http.head import Request
from hubbub.http.turns import ReadTurns
from hubbub.settings import Settings
from hubbub.stats import Stats

if TYPE_CHECKING:
    from hubbub.http.answers import Answer
    from hubbub.http.guard import ConnectionGuard

# What an embedding application adds (docs/design.md, Embedding): a filter sees every
# request before its route (and may answer it), a hook every answer before it is written.
RequestFilter = Callable[[Request], "Answer | Awaitable[Answer | None] | None"]
AnswerHook = Callable[[Request, "Answer"], None]


class ServedConnection(Protocol):
    """A connection the server owns (a ``FrontConnection``, or a stream's protocol)."""

    def begin_close(self) -> None:
        """The server stops: finish what is owed, then close."""

    def abort(self) -> None: ...


class ServerContext:
    """The settings, counters and connection guard the connections read, the hooks of the
    application they serve, and the connections themselves (so that shutdown can answer
    and close them). Nothing of the node: what the routes need they reach through
    ``Request.app``."""

    __slots__ = (
        "_all_closed",
        "_date",
        "_origins",
        "access_log",
        "answer_hooks",
        "app",
        "body_timeout",
        "closing",
        "connections",
        "guard",
        "host_refusal",
        "idle_timeout",
        "loop",
        "request_filters",
        "settings",
        "stats",
        "turns",
    )

    def __init__(
        self,
        settings: Settings,
        stats: Stats,
        guard: ConnectionGuard,
        loop: asyncio.AbstractEventLoop,
        *,
        app: object = None,
    ) -> None:
        self.settings = settings
        self.stats = stats  # refusals are counted in stats.rejected
        self.app = app  # what routes reach the node through (Request.app)
        self.request_filters: list[RequestFilter] = []
        self.answer_hooks: list[AnswerHook] = []
        # The refusal of a request's Host (protocol/hosts.py), or None: the application's.
        self.host_refusal: Callable[[str | None], ProtocolError | None] = _no_refusal
        self.guard = guard
        self.loop = loop
        # How much of a loop iteration the connections' reads take (http/turns.py).
        self.turns = ReadTurns(loop)
        self.idle_timeout = settings.idle_timeout
        self.body_timeout = settings.body_timeout
        self._origins = settings.allow_origin
        self.connections: set[ServedConnection] = set()
        self.closing = False
        self._date = DateHeader()
        self._all_closed: asyncio.Event | None = None
        # The access log (access_log.py), or None: nothing is measured for it then.
        self.access_log: logging.Logger | None = None

    def date(self) -> bytes:
        return self._date.at(time.time())

    def allowed_origin(self, origin: str | None) -> str | None:
        if self._origins is None:
            return None
        return allowed_origin_for(self._origins, origin)

    def cors(self, head: Request) -> bytes:
        """The CORS header lines of an answer to ``head``: none unless ``--allow-origin``
        allows its ``Origin``."""
        return header_lines(origin_header_pairs(self.allowed_origin(head.headers.get("origin"))))

    def forget(self, connection: ServedConnection, address: str | None) -> None:
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
        """Answer and close every connection; abort those still open after ``timeout``.

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


def _no_refusal(host: str | None) -> ProtocolError | None:
    return None
