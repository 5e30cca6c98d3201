"""hubbub: a real-time chat server where every room is a durable, gapless log.

The package's public API is the client: :class:`Client` and the values a
subscription yields and reports (see docs/client.md). The server is run with
``hubbub serve`` or :class:`hubbub.server.Server`.
"""

from __future__ import annotations

__version__ = "0.1.0"

from hubbub.client import (
    Backoff,
    Client,
    ClientError,
    Connected,
    Disconnected,
    Event,
    Gap,
    Message,
    Page,
    ProtocolViolation,
    Refused,
    Status,
    Subscription,
    TransportChoice,
    TransportName,
    Unreachable,
    Unsupported,
)

__all__ = [
    "Backoff",
    "Client",
    "ClientError",
    "Connected",
    "Disconnected",
    "Event",
    "Gap",
    "Message",
    "Page",
    "ProtocolViolation",
    "Refused",
    "Status",
    "Subscription",
    "TransportChoice",
    "TransportName",
    "Unreachable",
    "Unsupported",
    "__version__",
]
