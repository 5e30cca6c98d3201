"""A subscription: one room followed across disconnects, restarts and broken transports.

The loop here is the only place that retries. It runs a transport strategy
from the cursor, passes what it yields through the cursor, and when the
connection ends it waits (capped exponential backoff with jitter) and starts
again from the cursor, so no message is lost or repeated.

With ``transport="auto"`` it tries WebSocket, then Server-Sent Events, then
long poll, then short poll. It moves on to the next one only when this one is
broken while the server is fine: the server (or a proxy) refused it outright, or
it failed to open while a plain read of the room works. A server that cannot be
reached at all is waited for instead; falling back would not help.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Callable
from types import TracebackType

import aiohttp

from hubbub.client.backoff import Backoff
from hubbub.client.cursor import Cursor
from hubbub.client.errors import ClientError, Refused, Unsupported
from hubbub.client.events import (
    TRANSPORTS,
    Connected,
    Disconnected,
    Ephemeral,
    Event,
    PresenceChange,
    Status,
    TransportChoice,
    TransportName,
    TypingNotice,
)
from hubbub.client.http import Link, get_page
from hubbub.client.transports import (
    DISCONNECTED_WAIT,
    STRATEGIES,
    Ended,
    Opened,
    ServerGap,
    ServerReady,
    Wire,
)
from hubbub.protocol.messages import Message

# A connection that stayed up this long was a success: the next outage starts
# its backoff from the beginning again. Shorter ones keep it growing, so a
# server that accepts and at once drops connections is not hammered.
STABLE_AFTER = 5.0
# The plain read that tells a broken transport from an unreachable server.
PROBE_TIMEOUT = 5.0

# What ends one connection without ending the subscription.
_FAILURES = (ClientError, aiohttp.ClientError, OSError, TimeoutError, Ended)

StatusCallback = Callable[[Status], None]
# Presence changes and typing notices, as they arrive (WebSocket and SSE; polls have none).
EphemeralCallback = Callable[[Ephemeral], None]


class Subscription:
    """An async iterator of a room's messages and gaps, from a cursor, for ever.

    Iterating yields each :class:`~hubbub.Message` once, in id order, and a
    :class:`~hubbub.Gap` where ids are missing. It only stops with an error the
    server will keep giving (:class:`~hubbub.Refused`, :class:`~hubbub.Unsupported`
    for a transport asked for by name). Close it with :meth:`aclose` or use it as
    an async context manager; to stop it from another task, cancel the task that
    iterates it.
    """

    def __init__(
        self,
        link: Callable[[], Link],
        backoff: Backoff,
        room: str,
        since: int | None,
        transport: TransportChoice,
        on_status: StatusCallback | None,
        epoch: str | None = None,
        on_event: EphemeralCallback | None = None,
    ) -> None:
        if transport != "auto" and transport not in TRANSPORTS:
            raise ValueError(f"unknown transport {transport!r}: auto or one of {TRANSPORTS}")
        self.room = room
        self._link = link  # the client's connection, made anew after it closes
        self._backoff = backoff
        self._cursor = Cursor(since, epoch)
        self._delivered = since
        self._delivered_epoch = epoch
        self._order: tuple[TransportName, ...] = TRANSPORTS if transport == "auto" else (transport,)
        self._index = 0  # which of _order is in use; only ever moves forward
        self._proven: set[TransportName] = set()  # transports that have worked here
        self._strikes = 0  # failures of a proven transport while the server was fine
        self._transport: TransportName | None = None
        self._on_status = on_status
        self._on_event = on_event
        self._events = self._run()

    @property
    def cursor(self) -> int | None:
        """The id of the last message yielded (None until known).

        Give it as ``since`` to a later subscription to go on exactly from here.
        """
        return self._delivered

    @property
    def epoch(self) -> str | None:
        """The epoch of the room's log that :attr:`cursor` belongs to (None until known).

        Give it as ``epoch`` with ``since=cursor`` to a later subscription: should the
        room's log have started over meanwhile, that subscription starts with a
        reset :class:`~hubbub.Gap` instead of taking new ids for the old ones.
        """
        return self._delivered_epoch

    @property
    def transport(self) -> TransportName | None:
        """The transport in use while connected, else None."""
        return self._transport

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Event:
        event = await self._events.__anext__()
        # The cursor moves on only after a whole wire's events were yielded, so its
        # epoch is the one of the event at hand.
        if isinstance(event, Message):
            self._delivered = event.id
            self._delivered_epoch = self._cursor.epoch or self._delivered_epoch
        else:
            self._delivered = max(event.first_id - 1, 0)
            self._delivered_epoch = event.epoch or self._delivered_epoch
        return event

    async def aclose(self) -> None:
        """Close the connection; iterating afterwards ends at once."""
        self._transport = None
        await self._events.aclose()

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # The loop

    async def _run(self) -> AsyncGenerator[Event, None]:
        loop = asyncio.get_running_loop()
        link = self._link()
        attempt = 0
        while True:
            name = self._order[self._index]
            live_since: float | None = None
            failure: BaseException
            try:
                if self._cursor.position is None:
                    await self._start(link)
                strategy = STRATEGIES[name](link, self.room, self._cursor)
                async with contextlib.aclosing(strategy) as wires:
                    async for wire in wires:
                        if isinstance(wire, Opened):
                            live_since = loop.time()
                            self._live(name)
                        else:
                            for event in self._apply(wire):
                                yield event
                raise Ended("the connection ended")  # strategies end by raising; never here
            except _FAILURES as exc:
                failure = exc
            self._transport = None
            if self._cursor.position is None and _refusal(failure):
                raise failure  # even a plain read of the room is refused
            if live_since is None and self._cursor.position is not None:
                if _refusal(failure):
                    if self._fall_back():
                        continue
                    # Nothing to fall back to. A refused plain read (a wrong base URL,
                    # say) explains more than "this transport was refused".
                    await self._reachable(link)
                    raise failure
                if (
                    self._index + 1 < len(self._order)
                    and not _not_listening(failure)
                    and await self._broken_here(link, name)
                ):
                    self._fall_back()
                    continue
            elif live_since is not None and loop.time() - live_since >= STABLE_AFTER:
                attempt = 0
            # An admin's disconnect asks for a pause: the backoff alone may be shorter.
            delay = max(self._backoff.delay(attempt), _asked_wait(failure))
            attempt += 1
            self._notify(Disconnected(link.describe(failure), delay))
            await asyncio.sleep(delay)

    async def _start(self, link: Link) -> None:
        """A subscription "from now": the newest id in the room is where it starts."""
        page = await get_page(link, self.room, {"limit": 1}, patience=link.options.request_timeout)
        self._cursor.position = page.messages[-1].id if page.messages else 0
        self._cursor.epoch = page.epoch

    def _apply(self, wire: Wire) -> list[Event]:
        if isinstance(wire, Message):
            return self._cursor.message(wire)
        if isinstance(wire, ServerGap | ServerReady):
            # A ready that names another epoch without a gap before it is still a reset.
            gap = self._cursor.bounds(wire.first_id, wire.last_id, wire.epoch)
            return [] if gap is None else [gap]
        if isinstance(wire, Opened):
            return []
        if isinstance(wire, PresenceChange | TypingNotice):
            if self._on_event is not None:
                self._on_event(wire)
            return []
        return self._cursor.page(wire)

    def _live(self, name: TransportName) -> None:
        self._proven.add(name)
        self._strikes = 0
        self._transport = name
        self._notify(Connected(name))

    def _fall_back(self) -> bool:
        if self._index + 1 >= len(self._order):
            return False
        self._index += 1
        self._strikes = 0
        return True

    async def _reachable(self, link: Link) -> bool:
        """Whether a plain read of the room works; raises if the server refuses it."""
        params = {"since": self._cursor.position or 0, "limit": 1}
        try:
            await get_page(link, self.room, params, patience=PROBE_TIMEOUT)
        except Refused as exc:
            if not exc.retryable:
                raise
            return False
        except ClientError:
            return False
        return True

    async def _broken_here(self, link: Link, name: TransportName) -> bool:
        """Whether ``name`` failed to open while the server answers plain reads.

        One that worked before gets a second chance: the server may only just be
        back from a restart.
        """
        if not await self._reachable(link):
            return False  # unreachable: wait and try the same transport again
        if name in self._proven:
            self._strikes += 1
            return self._strikes >= 2
        return True

    def _notify(self, status: Status) -> None:
        if self._on_status is not None:
            self._on_status(status)


def _not_listening(failure: BaseException) -> bool:
    """The connection itself failed: nothing is said about the transport.

    Without this, a server that starts listening between the failed connect and
    the probe of ``_broken_here`` would make the client give up a transport that
    works.
    """
    return isinstance(failure, aiohttp.ClientConnectorError | ConnectionRefusedError)


def _asked_wait(failure: BaseException) -> float:
    """The pause the server asked for when it ended the connection (an admin's
    disconnect: a WebSocket close 4403, an SSE ``disconnected``, a long poll's 403
    ``disconnected`` with ``Retry-After``), else 0."""
    if isinstance(failure, Ended):
        return failure.retry_after
    if isinstance(failure, Refused) and failure.code == "disconnected":
        return failure.retry_after or DISCONNECTED_WAIT
    return 0.0


def _refusal(failure: BaseException) -> bool:
    """An answer that trying again will not change (as opposed to a failure to connect)."""
    if isinstance(failure, Refused):
        return not failure.retryable
    return isinstance(failure, Unsupported)
