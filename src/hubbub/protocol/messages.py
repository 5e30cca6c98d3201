"""The message and the validation of everything a client may send.

Pure functions: no sockets, no event loop. The rules are docs/protocol.md's
*Rooms* and *The message* sections.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

from hubbub.errors import InvalidJSON, InvalidMessage, InvalidRoom

ROOM_NAME = re.compile(r"(?!\.)[A-Za-z0-9_.\-]{1,64}")
MAX_USER = 64
MAX_CLIENT_ID = 64
# The ``user`` of a publish that left it out, to be stamped from the sender's token
# (``access.py``). Never a user name: a user name is never blank.
NO_USER = ""

MAX_TARGET = 2**63 - 1

# What a log entry is: a plain message, or a correction of an earlier one.
MESSAGE = "message"
EDIT = "edit"
DELETE = "delete"
CORRECTIONS = (EDIT, DELETE)


@dataclass(frozen=True, slots=True)
class Publish:
    """A validated request to append one message to a room."""

    room: str
    user: str
    text: str
    client_id: str | None = None
    kind: str = MESSAGE  # or EDIT / DELETE, which name the ``target`` they correct
    target: int | None = None


@dataclass(frozen=True, slots=True)
class Message:
    """A stored message: its ``id`` is its gapless position in ``room``."""

    id: int
    room: str
    user: str
    text: str
    ts: int
    client_id: str | None = None
    kind: str = MESSAGE
    target: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The wire object, with ``client_id`` only when the publisher sent one, and
        ``kind``/``target`` only on corrections (a plain message is what it always was)."""
        body: dict[str, Any] = {
            "id": self.id,
            "room": self.room,
            "user": self.user,
            "text": self.text,
            "ts": self.ts,
        }
        if self.client_id is not None:
            body["client_id"] = self.client_id
        if self.kind != MESSAGE:
            body["kind"] = self.kind
            body["target"] = self.target
        return body


def validate_room(name: str) -> str:
    """Return ``name`` if it is a legal room name, else raise ``invalid_room``."""
    if ROOM_NAME.fullmatch(name) is None:
        raise InvalidRoom(
            "room names are 1 to 64 characters of A-Z a-z 0-9 _ . - and do not start with '.'"
        )
    return name


def parse_json_object(body: bytes | str, what: str = "request body") -> dict[str, Any]:
    """Decode a request body or text frame (``what``) that must hold one JSON object."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidJSON(f"{what} is not valid JSON") from exc
    if not isinstance(value, dict):
        raise InvalidJSON(f"{what} must be a JSON object")
    return value


# Unicode category Cc is exactly C0, DEL and C1; a character class checks a
# 4,000-character text in C instead of one Python call per character.
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
CONTROL_BUT_NEWLINE_TAB = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def validate_user(value: object) -> str:
    """A user name: trimmed, then 1 to 64 characters with no control characters."""
    if not isinstance(value, str):
        raise InvalidMessage("user must be a string")
    user = value.strip()
    if not user:
        raise InvalidMessage("user must not be blank")
    if len(user) > MAX_USER:
        raise InvalidMessage(f"user must be at most {MAX_USER} characters")
    if CONTROL.search(user):
        raise InvalidMessage("user must not contain control characters")
    return user


def validate_text(value: object, max_text: int) -> str:
    """Message text: 1 to ``max_text`` characters, not blank, only \\n and \\t as controls."""
    if not isinstance(value, str):
        raise InvalidMessage("text must be a string")
    if not value.strip():
        raise InvalidMessage("text must not be blank")
    if len(value) > max_text:
        raise InvalidMessage(f"text must be at most {max_text} characters")
    if CONTROL_BUT_NEWLINE_TAB.search(value):
        raise InvalidMessage("text must not contain control characters other than newline and tab")
    return value


def validate_client_id(value: object) -> str | None:
    """An optional idempotency key: 1 to 64 printable characters (JSON null means absent)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidMessage("client_id must be a string")
    if not 1 <= len(value) <= MAX_CLIENT_ID:
        raise InvalidMessage(f"client_id must be 1 to {MAX_CLIENT_ID} characters")
    if not value.isprintable():
        raise InvalidMessage("client_id must be printable characters")
    return value


def validate_target(value: object) -> int:
    """The id a correction names: a whole number from 1 (JSON, not a string)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_TARGET:
        raise InvalidMessage(f"target must be a message id, a whole number from 1 to {MAX_TARGET}")
    return value


def publish_kind(value: object) -> str:
    """The entry a publish appends, from its ``type``: absent, ``publish`` or ``message``
    is a plain message; ``edit`` and ``delete`` are corrections."""
    if value is None or value in ("publish", MESSAGE):
        return MESSAGE
    if value in CORRECTIONS:
        return str(value)
    raise InvalidMessage("type must be publish, message, edit or delete")


def validate_publish(
    room: str, fields: dict[str, Any], max_text: int, *, user_required: bool = True
) -> Publish:
    """Check a publish request's fields; the error message names the bad field.

    ``user_required`` is false when access control is on: the sender's token then
    names the user, and a publish without one is stored under it (``NO_USER``).
    """
    kind = publish_kind(fields.get("type"))
    if "user" not in fields and user_required:
        raise InvalidMessage("user is required")
    if kind != DELETE and "text" not in fields:
        raise InvalidMessage("text is required")
    target = None
    if kind != MESSAGE:
        if "target" not in fields:
            raise InvalidMessage("target is required")
        target = validate_target(fields["target"])
    return Publish(
        room=room,
        user=validate_user(fields["user"]) if "user" in fields else NO_USER,
        # A delete carries no text: it is stored and sent as "".
        text="" if kind == DELETE else validate_text(fields["text"], max_text),
        client_id=validate_client_id(fields.get("client_id")),
        kind=kind,
        target=target,
    )


def client_id_of(fields: dict[str, Any]) -> str | None:
    """The frame's ``client_id`` if it is usable to label an error, else None."""
    value = fields.get("client_id")
    return value if isinstance(value, str) else None
