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
from hubbub.protocol.cursors import EPOCH
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
    The subscription goes on from ``first_id``. ``reset`` says the room's log
    started over (a memory store restarted, a backup restored, a Redis that lost
    the room): the server named a new epoch, or the cursor is beyond ``last_id``.
    ``epoch`` is the epoch of the log the subscription goes on in, when known.
    """

    cursor: int
    first_id: int
    last_id: int
    reset: bool = False
    epoch: str | None = None

    def __post_init__(self) -> None:
        # A cursor beyond the newest id can only mean the log started over,
        # whether or not the server could say so with an epoch.
        if self.cursor > self.last_id and not self.reset:
            object.__setattr__(self, "reset", True)

    @property
    def missed(self) -> range:
        """The ids concerned, as the browser client reports them.

        Usually the messages that are gone for good (``cursor + 1`` to
        ``first_id - 1``). After a reset, the ids the subscriber saw that the
        new log does not have (``last_id + 1`` to ``cursor``, empty when the new
        log is already longer); what the old log held after ``cursor`` cannot be
        known, and the ids the subscriber saw now name other messages.
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
class PresenceChange:
    """Who came and went in ``room`` (the first one after connecting lists everyone)."""

    room: str
    joined: tuple[str, ...]
    left: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TypingNotice:
    """``user`` is typing in ``room`` (the subscriber's own name included)."""

    room: str
    user: str


Ephemeral: TypeAlias = PresenceChange | TypingNotice
"""What a subscription's ``on_event`` callback receives: never stored, never a cursor."""


def parse_ephemeral(kind: str, body: object) -> Ephemeral:
    """A ``presence`` or ``typing`` event's object from the wire, checked."""
    if not isinstance(body, dict):
        raise ProtocolViolation(f"the server sent a {kind} event that is not an object")
    room = _field(body, "room", str)
    if kind == "typing":
        return TypingNotice(room, _field(body, "user", str))
    names = []
    for field in ("joined", "left"):
        value = _field(body, field, list)
        if not all(isinstance(name, str) for name in value):
            raise ProtocolViolation(f"the server sent a bad {field!r}: {value!r}")
        names.append(tuple(value))
    return PresenceChange(room, names[0], names[1])


@dataclass(frozen=True, slots=True)
class Page:
    """One read of a room: ``messages`` oldest first, the ids the room keeps now,
    and the epoch of its log (None from a server that does not name one)."""

    messages: tuple[Message, ...]
    first_id: int
    last_id: int
    epoch: str | None = None


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


def parse_epoch(body: object) -> str | None:
    """The ``epoch`` of a poll answer, ``ready`` or ``gap``; None if the server names none."""
    if not isinstance(body, dict):
        raise ProtocolViolation(f"the server sent bounds that are not an object: {body!r}")
    epoch = body.get("epoch")
    if epoch is not None and (not isinstance(epoch, str) or EPOCH.fullmatch(epoch) is None):
        raise ProtocolViolation(f"the server sent a bad 'epoch': {epoch!r}")
    return epoch


def parse_page(body: object) -> Page:
    """A short or long poll answer: ``{"messages": [...], "first_id", "last_id", "epoch"}``."""
    first_id, last_id = parse_bounds(body)
    assert isinstance(body, dict)
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise ProtocolViolation("the server's answer has no 'messages' list")
    return Page(tuple(parse_message(m) for m in messages), first_id, last_id, parse_epoch(body))
