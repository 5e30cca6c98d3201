"""hubbub's Python client: publish, read and follow rooms over any of the four transports.

::

    from hubbub import Client, Gap

    async with Client("http://127.0.0.1:8000") as client:
        await client.publish("general", "alice", "hello")
        async for event in client.subscribe("general", since=0):
            if isinstance(event, Gap):
                print("missed", event.missed)
            else:
                print(event.id, event.user, event.text)

docs/client.md describes the library and the ``hubbub chat``, ``send`` and
``tail`` commands built on it.
"""

from __future__ import annotations

from hubbub.client.backoff import Backoff
from hubbub.client.client import Client, new_client_id
from hubbub.client.errors import (
    ClientError,
    ProtocolViolation,
    Refused,
    Unreachable,
    Unsupported,
    UntrustedCertificate,
)
from hubbub.client.events import (
    TRANSPORTS,
    Connected,
    Disconnected,
    Ephemeral,
    Event,
    Gap,
    Page,
    PresenceChange,
    Status,
    TransportChoice,
    TransportName,
    TypingNotice,
)
from hubbub.client.search import Hit, SearchPage
from hubbub.client.subscription import Subscription
from hubbub.protocol.messages import Message

__all__ = [
    "TRANSPORTS",
    "Backoff",
    "Client",
    "ClientError",
    "Connected",
    "Disconnected",
    "Ephemeral",
    "Event",
    "Gap",
    "Hit",
    "Message",
    "Page",
    "PresenceChange",
    "ProtocolViolation",
    "Refused",
    "SearchPage",
    "Status",
    "Subscription",
    "TransportChoice",
    "TransportName",
    "TypingNotice",
    "Unreachable",
    "Unsupported",
    "UntrustedCertificate",
    "new_client_id",
]
