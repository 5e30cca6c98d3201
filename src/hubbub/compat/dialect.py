"""The tutorial dialect's wire shapes: what its clients send and what they are shown.

Pure functions over ``Message`` and request fields, no sockets and no event loop,
so every rule of docs/protocol.md's *The tutorial dialect* that is about
shapes is tested with plain calls. The field rules are the protocol's own
(``validate_user``, ``validate_text``, ``validate_client_id``); only the names
differ, and an error names the field as the tutorial's client spells it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any, TypeVar
from urllib.parse import parse_qsl

import orjson

from hubbub.errors import InvalidMessage, InvalidParameter
from hubbub.protocol.messages import (
    Message,
    Publish,
    validate_client_id,
    validate_text,
    validate_user,
)

# How many of the lobby's newest messages GET /messages and the SSE list show.
LIST_SIZE = 1000
# Who posts through POST /publish: the tutorial's page has no user names.
ANONYMOUS = "anonymous"
# A message the publisher gave no id of its own is shown as "m" and its position.
POSITION_ID = re.compile(r"m[0-9]+")

T = TypeVar("T")


def tutorial_id(message: Message) -> str:
    """The publisher's own id (its ``client_id``) where it sent one, else ``m<id>``.

    The terminal client de-duplicates by this id, so its own messages must come
    back under the id it chose. A client id that itself looks like ``m17`` is
    shown by position too: the two kinds of id can never collide.
    """
    client_id = message.client_id
    if client_id is not None and POSITION_ID.fullmatch(client_id) is None:
        return client_id
    return f"m{message.id}"


def listed(message: Message) -> bytes:
    """The ``{"id", "text", "username"}`` object of GET /messages and its WebSocket."""
    return orjson.dumps(
        {"id": tutorial_id(message), "text": message.text, "username": message.user}
    )


def sse_item(message: Message) -> bytes:
    """The ``{"user_id", "message"}`` object of the SSE tutorial's list."""
    return orjson.dumps({"user_id": message.user, "message": message.text})


def json_list(items: Iterable[bytes]) -> bytes:
    """A JSON array spliced from objects that are already encoded."""
    return b"[" + b",".join(items) + b"]"


def sse_list_event(items: Iterable[bytes]) -> bytes:
    """One ``data: [...]`` event; orjson never emits a raw newline, so one line is enough."""
    return b"data: " + json_list(items) + b"\n\n"


def status_body(status: int, message: str, code: str | None = None) -> bytes:
    """The SSE tutorial's answer: its ``status`` is always the HTTP status too."""
    body: dict[str, Any] = {"status": status, "message": message}
    if code is not None:
        body["code"] = code
    return orjson.dumps(body)


def _as(field: str, internal: str, check: Callable[[Any], T], value: Any) -> T:
    """Run a protocol check, naming the field as the tutorial's client does."""
    try:
        return check(value)
    except InvalidMessage as error:
        text = error.message
        if text.startswith(internal + " "):
            text = field + text[len(internal) :]
        raise InvalidMessage(text) from error


def _required(fields: dict[str, Any], field: str) -> Any:
    if fields.get(field) is None:
        raise InvalidMessage(f"{field} is required")
    return fields[field]


def _text(fields: dict[str, Any], field: str, max_text: int) -> str:
    return _as(field, "text", lambda v: validate_text(v, max_text), _required(fields, field))


def _client_id(value: object) -> str | None:
    """The terminal client's ``id`` (a random number in the tutorial) as a ``client_id``.

    A whole number is written as JavaScript writes it (``3.0`` is ``"3"``): the
    client looks its own messages up by ``String(id)``.
    """
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InvalidMessage("id must be a string or a number")
    return _as("id", "client_id", validate_client_id, str(value))


def query_id(raw_query: str) -> str | None:
    """``?id=U`` of a raw query string, percent-decoded as UTF-8 strictly (aiohttp's
    parsed query would turn ``%ff`` into U+FFFD); None without one.

    ``InvalidParameter`` (400) for bytes that are not UTF-8; the user name rules are
    the caller's (``event_source_publish``, ``list_owner``).
    """
    try:
        pairs = parse_qsl(raw_query, keep_blank_values=True, errors="strict")
    except UnicodeDecodeError:
        raise InvalidParameter("id must be percent-encoded UTF-8") from None
    return next((value for name, value in pairs if name == "id"), None)


def list_owner(raw_query: str) -> str | None:
    """Whose own messages the SSE list leaves out: ``?id=U`` (blank: nobody), a user
    name (400 ``invalid_parameter`` otherwise)."""
    raw = query_id(raw_query)
    if raw is None or not raw.strip():
        return None
    try:
        return validate_user(raw)
    except InvalidMessage as error:
        raise InvalidParameter(error.message.replace("user", "id", 1)) from error


def page_publish(
    room: str, fields: dict[str, Any], max_text: int, default_user: str = ANONYMOUS
) -> Publish:
    """POST /publish ``{"message": text}`` from the long-polling page, as ``anonymous``.

    ``default_user`` is who posts when the request names nobody: ``NO_USER`` when
    the request carries a token, whose ``sub`` is then stamped.
    """
    return Publish(room=room, user=default_user, text=_text(fields, "message", max_text))


def terminal_publish(
    room: str, fields: dict[str, Any], max_text: int, default_user: str = ANONYMOUS
) -> Publish:
    """POST /messages ``{"id", "text", "username"}`` from the terminal client.

    The tutorial's client takes its user name from ``$NAME`` and sends none when
    that is unset, so a missing ``username`` is ``anonymous``.
    """
    username = fields.get("username")
    return Publish(
        room=room,
        user=default_user if username is None else _as("username", "user", validate_user, username),
        text=_text(fields, "text", max_text),
        client_id=_client_id(fields.get("id")),
    )


def event_source_publish(
    room: str,
    user: str | None,
    fields: dict[str, Any],
    max_text: int,
    default_user: str | None = None,
) -> Publish:
    """POST /message?id=U ``{"message": text}`` from the SSE tutorial, as user ``U``
    (or ``default_user`` without ``?id=``, when a token names the user)."""
    if user is not None:
        name = _as("id", "user", validate_user, user)
    elif default_user is not None:
        name = default_user
    else:
        raise InvalidMessage("id is required (POST /message?id=NAME)")
    return Publish(
        room=room,
        user=name,
        text=_text(fields, "message", max_text),
    )
