"""What every load-generator connection shares: the transport, with Nagle off."""

from __future__ import annotations

import asyncio
import socket
from typing import cast


class Connection(asyncio.Protocol):
    """An asyncio protocol whose ``opened`` runs once the socket is connected."""

    transport: asyncio.Transport | None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # Small frames go out at once: latency is what the probes measure.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.opened()

    def opened(self) -> None:
        """Called when connected: send the request or handshake."""
        raise NotImplementedError
