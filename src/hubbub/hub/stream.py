"""A stream: one connection that receives a room's messages, whatever its transport.

Transports subclass :class:`Stream` (SSE, WebSocket, the tutorial dialect's
socket). The core writes bytes through its outbox, in the stream's
:class:`~hubbub.protocol.encoding.WireFormat`, and asks it to keep itself alive
(:meth:`Stream.tick`); it never asks which transport a stream is.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from hubbub.hub.outbox import Outbox
from hubbub.principal import Principal
from hubbub.protocol.encoding import WireFormat

if TYPE_CHECKING:
    from hubbub.hub.room import Room


class Stream:
    """One streaming connection to one room."""

    __slots__ = (
        "done",
        "format",
        "last_ping",
        "last_seen",
        "outbox",
        "present",
        "principal",
        "room",
        "skip",
        "state",
        "user",
    )

    def __init__(
        self, room: str, fmt: WireFormat, outbox: Outbox, principal: Principal, now: float
    ) -> None:
        self.room = room
        self.format = fmt
        self.outbox = outbox
        self.principal = principal
        # Frames of the room's pending batch this stream already got while catching
        # up (it went live mid-iteration); the next flush skips them for it.
        self.skip = 0
        self.last_seen = now  # last frame received from the peer
        self.last_ping = now
        self.state: Room | None = None  # the room, from attach to detach
        # The name this connection is present under (None: counted as anonymous), and
        # whether it is counted in its room's presence now.
        self.user: str | None = None
        self.present = False
        # Resolved with the reason once the server ends the stream.
        self.done: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def end(self, reason: str) -> None:
        """Ask the transport to end the stream: ``shutdown``, ``slow``, ``timeout``,
        ``reset`` (the room's log started over), ``gap``, ``expired`` (its token
        expired: the client reconnects with a fresh one) or ``gone``."""
        if not self.done.done():
            self.done.set_result(reason)

    def release(self) -> None:
        """Detached: nothing more goes out through this stream. A stream that owns its
        connection closes its outbox; a subscription sharing one leaves it open."""
        self.outbox.close()

    def tick(self, now: float, interval: float) -> None:
        """Called every quarter heartbeat; transports keep their peer alive here."""
