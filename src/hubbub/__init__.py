"""hubbub: a real-time chat server where every room is a durable, gapless log.

The package's public API is the client: :class:`Client` and the values a
subscription yields and reports (see docs/client.md). The server is run with
``hubbub serve`` or :class:`hubbub.server.Server`.

The client is imported on first use of one of its names, so importing the core
(``hubbub.protocol``, ``hubbub.store``) does not load aiohttp or the client.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
        UntrustedCertificate,
    )

__version__ = "0.1.0"

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
    "UntrustedCertificate",
    "__version__",
]


def __getattr__(name: str) -> Any:
    """``hubbub.Client`` and the other client names, imported when first asked for."""
    if name in __all__ and name != "__version__":
        value = getattr(importlib.import_module("hubbub.client"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'hubbub' has no attribute {name!r}")
