"""What a subscription yields and reports, as typed values.

A subscription yields :class:`~hubbub.protocol.messages.Message` for each message
and :class:`Gap` when ids are missing, never a dict. Its connection state is
reported apart, to a callback, as :class:`Connected` and :class:`Disconnected`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from hubbub.client.errors import ProtocolViolation
from hubbub.protocol.messages import Message

TransportName: TypeAlias = Literal["ws", "sse", "longpoll", "poll"]
"""A concrete transport: WebSocket, Server-Sent Events, long poll, short poll."""

TransportChoice: TypeAlias = Literal["auto", "ws", "sse", "longpoll", "poll"]
"""What ``subscribe`` accepts: one transport, or ``auto`` to try them in order."""

TRANSPORTS: tuple[TransportName, ...] = ("ws", "sse", "longpoll", "poll")
"""The order ``auto`` tries them in: the most efficient first."""


@dataclass(frozen=True, slots=True)
class Gap:
    """Ids this subscriber will never receive; always reported, never skipped silently.

    ``cursor`` is the last id the subscriber had when the gap was found, and
    ``first_id..last_id`` the ids the room keeps now (0 and 0 for an empty room).
    The subscription goes on from ``first_id``.
    """

    cursor: int
    first_id: int
    last_id: int

    @property
    def reset(self) -> bool:
        """The room was reset under the subscriber (a memory store restarted, a backup
        restored): its ids start again from ``first_id`` and name other messages."""
        return self.cursor > self.last_id

    @property
    def missed(self) -> range:
        """The ids concerned, as the browser client reports them.

        Usually the messages that are gone for good (``cursor + 1`` to
        ``first_id - 1``); after a reset, the ids the subscriber saw that the room
        no longer has (``last_id + 1`` to ``cursor``).
        """
        if self.reset:
            return range(self.last_id + 1, self.cursor + 1)
        return range(self.cursor + 1, max(self.first_id, self.cursor + 1))


Event: TypeAlias = Message | Gap
"""What iterating a subscription yields."""


@dataclass(frozen=True, slots=True)
class Connected:
    """The subscription is live over ``transport``."""

    transport: TransportName


@dataclass(frozen=True, slots=True)
class Disconnected:
    """The connection was lost (or could not be made); the next try is in ``retry_in`` s."""

    reason: str
    retry_in: float


Status: TypeAlias = Connected | Disconnected
"""What a subscription's ``on_status`` callback receives."""


@dataclass(frozen=True, slots=True)
class Page:
    """One read of a room: ``messages`` oldest first, and the ids the room keeps now."""

    messages: tuple[Message, ...]
    first_id: int
    last_id: int


def _field(body: Mapping[str, Any], name: str, kind: type) -> Any:
    value = body.get(name)
    # bool is an int in Python, never in the protocol.
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ProtocolViolation(f"the server sent a bad {name!r}: {value!r}")
    return value


def parse_message(body: object) -> Message:
    """A message object from the wire, checked field by field."""
    if not isinstance(body, dict):
        raise ProtocolViolation(f"the server sent a message that is not an object: {body!r}")
    client_id = body.get("client_id")
    if client_id is not None and not isinstance(client_id, str):
        raise ProtocolViolation(f"the server sent a bad 'client_id': {client_id!r}")
    kind = body.get("kind", "message")
    target = body.get("target")
    if kind != "message":  # an edit or delete names the id it corrects
        kind, target = _field(body, "kind", str), _field(body, "target", int)
    return Message(
        id=_field(body, "id", int),
        room=_field(body, "room", str),
        user=_field(body, "user", str),
        text=_field(body, "text", str),
        ts=_field(body, "ts", int),
        client_id=client_id,
        kind=kind,
        target=target,
    )


def parse_bounds(body: object) -> tuple[int, int]:
    """``first_id`` and ``last_id`` of a gap or a poll answer."""
    if not isinstance(body, dict):
        raise ProtocolViolation(f"the server sent bounds that are not an object: {body!r}")
    return _field(body, "first_id", int), _field(body, "last_id", int)


def parse_page(body: object) -> Page:
    """A short or long poll answer: ``{"messages": [...], "first_id", "last_id"}``."""
    first_id, last_id = parse_bounds(body)
    assert isinstance(body, dict)
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise ProtocolViolation("the server's answer has no 'messages' list")
    return Page(tuple(parse_message(m) for m in messages), first_id, last_id)
