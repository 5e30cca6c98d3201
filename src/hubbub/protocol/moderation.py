"""Moderation's rules: mutes, their table, and the audit entries of moderation actions.

Pure: times are passed in (Unix seconds), nothing here reads a clock or a socket. The
node keeps a :class:`MuteTable` of every active mute, refreshed from the moderation
store whenever any node changes one, so refusing a muted user's publish is a dictionary
lookup on the publish path.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from hubbub.errors import InvalidMessage, Muted
from hubbub.protocol.messages import validate_user

# The longest mute: 30 days. Longer than that is a ban, which is the signer's job
# (stop issuing the user tokens), not a moderator's.
MAX_MUTE_SECONDS = 30 * 86400
MAX_REASON = 500
# How long a client that was disconnected by an admin should wait before connecting
# again (the Retry-After of a long poll ended so, the SSE retry of a stream ended so).
RECONNECT_AFTER = 30

# Audit actions.
DELETE = "delete"
MUTE = "mute"
UNMUTE = "unmute"
DISCONNECT = "disconnect"
CLEAR = "clear"
ACTIONS = (DELETE, MUTE, UNMUTE, DISCONNECT, CLEAR)


def seconds_left(until: float, now: float) -> int:
    """Whole seconds until ``until``, rounded up (what a refusal tells the client)."""
    return max(0, math.ceil(until - now))


@dataclass(frozen=True, slots=True)
class Mute:
    """``user`` may not publish, edit or type in ``room`` until ``until`` (Unix seconds)."""

    room: str
    user: str
    until: float
    reason: str = ""
    by: str = ""
    at: float = 0.0

    def to_dict(self, now: float) -> dict[str, Any]:
        """The wire object: times in integer milliseconds, and the whole seconds left."""
        return {
            "room": self.room,
            "user": self.user,
            "until": int(self.until * 1000),
            "seconds_left": seconds_left(self.until, now),
            "reason": self.reason,
            "by": self.by,
            "at": int(self.at * 1000),
        }

    def to_record(self) -> dict[str, Any]:
        """What a store keeps (the same fields, times as float seconds)."""
        return {
            "room": self.room,
            "user": self.user,
            "until": self.until,
            "reason": self.reason,
            "by": self.by,
            "at": self.at,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Mute:
        return cls(
            str(record["room"]),
            str(record["user"]),
            float(record["until"]),
            str(record.get("reason", "")),
            str(record.get("by", "")),
            float(record.get("at", 0.0)),
        )


@dataclass(frozen=True, slots=True)
class MuteRequest:
    """A validated ``POST /rooms/{room}/mutes`` body."""

    user: str
    seconds: int
    reason: str


def validate_mute_request(fields: dict[str, Any]) -> MuteRequest:
    """``{"user", "seconds", "reason"}``: a user name, 1 to 30 days of whole seconds, and
    an optional reason of at most 500 characters."""
    if "user" not in fields:
        raise InvalidMessage("user is required: the user to mute")
    user = validate_user(fields["user"])
    seconds = fields.get("seconds")
    if (
        isinstance(seconds, bool)
        or not isinstance(seconds, int)
        or not 1 <= seconds <= MAX_MUTE_SECONDS
    ):
        raise InvalidMessage(f"seconds must be a whole number from 1 to {MAX_MUTE_SECONDS}")
    reason = fields.get("reason")
    if reason is None:  # absent, or null
        reason = ""
    if not isinstance(reason, str) or len(reason) > MAX_REASON:
        raise InvalidMessage(f"reason must be a string of at most {MAX_REASON} characters")
    return MuteRequest(user, seconds, reason.strip())


@dataclass(slots=True)
class MuteTable:
    """Every active mute this node knows, by room then user."""

    rooms: dict[str, dict[str, Mute]] = field(default_factory=dict)

    def replace(self, mutes: list[Mute]) -> None:
        """Everything known afresh (from the store, after any node changed a mute)."""
        rooms: dict[str, dict[str, Mute]] = {}
        for mute in mutes:
            rooms.setdefault(mute.room, {})[mute.user] = mute
        self.rooms = rooms

    def put(self, mute: Mute) -> None:
        self.rooms.setdefault(mute.room, {})[mute.user] = mute

    def lift(self, room: str, user: str) -> None:
        users = self.rooms.get(room)
        if users is not None:
            users.pop(user, None)
            if not users:
                del self.rooms[room]

    def find(self, room: str, user: str, now: float) -> Mute | None:
        """The mute ``user`` is under in ``room`` now, if any."""
        users = self.rooms.get(room)
        if not users:
            return None
        mute = users.get(user)
        if mute is None or mute.until <= now:
            return None
        return mute

    def check(self, room: str, user: str, now: float) -> None:
        """Refuse ``403 muted``, saying the time left, while ``user`` is muted in ``room``."""
        mute = self.find(room, user, now)
        if mute is not None:
            left = seconds_left(mute.until, now)
            raise Muted(f"you are muted in room {room} for {left} more seconds", left)

    def active(self, room: str, now: float) -> list[Mute]:
        """The room's mutes still running, by user name."""
        users = self.rooms.get(room, {})
        return sorted((m for m in users.values() if m.until > now), key=lambda m: m.user)

    def forget_ended(self, now: float) -> None:
        for room in tuple(self.rooms):
            users = self.rooms[room]
            for user in [u for u, m in users.items() if m.until <= now]:
                del users[user]
            if not users:
                del self.rooms[room]


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One moderation action: who (``actor``) did what (``action``) to which room or user,
    when (``at``, Unix seconds). ``id`` is the store's, oldest first; ``detail`` says the
    rest (a mute's seconds and reason, a delete's target, how many connections closed)."""

    actor: str
    action: str
    at: float
    room: str | None = None
    user: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    id: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": int(self.at * 1000),
            "actor": self.actor,
            "action": self.action,
            "room": self.room,
            "user": self.user,
            "detail": self.detail,
        }

    def to_record(self) -> dict[str, Any]:
        return {
            "actor": self.actor,
            "action": self.action,
            "at": self.at,
            "room": self.room,
            "user": self.user,
            "detail": self.detail,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any], id_: int) -> AuditEntry:
        return cls(
            str(record["actor"]),
            str(record["action"]),
            float(record["at"]),
            record.get("room"),
            record.get("user"),
            dict(record.get("detail") or {}),
            id_,
        )


def actor_name(user: str | None, address: str) -> str:
    """Who did it, for the audit: the token's user, or (no tokens, a loopback admin) the
    address it came from."""
    return user if user is not None else f"address {address}"
