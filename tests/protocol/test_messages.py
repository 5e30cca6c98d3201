"""The message and what a client may send (``hubbub.protocol.messages``).

Each length limit is accepted at the limit and refused one past it; each refusal is
pinned by its exact message, which is what the client reads in the error body.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from hubbub.errors import InvalidJSON, InvalidMessage, InvalidRoom
from hubbub.protocol.messages import (
    DELETE,
    EDIT,
    MAX_TARGET,
    MESSAGE,
    NO_USER,
    Message,
    Publish,
    client_id_of,
    parse_json_object,
    publish_kind,
    validate_client_id,
    validate_publish,
    validate_room,
    validate_target,
    validate_text,
    validate_user,
)

ROOM_MESSAGE = "room names are 1 to 64 characters of A-Z a-z 0-9 _ . - and do not start with '.'"
TARGET_MESSAGE = f"target must be a message id, a whole number from 1 to {MAX_TARGET}"


def test_wire_names() -> None:
    """The kinds are wire values (docs/protocol.md, *Edits and deletes*)."""
    assert (MESSAGE, EDIT, DELETE, NO_USER, MAX_TARGET) == (
        "message",
        "edit",
        "delete",
        "",
        2**63 - 1,
    )


@pytest.mark.parametrize("name", ["a", "Z", "0", "_", "-", "a.b", "a.", "A-Z_a-z.0-9", "x" * 64])
def test_room_names_accepted(name: str) -> None:
    assert validate_room(name) is name


@pytest.mark.parametrize(
    "name", ["", ".", ".a", "x" * 65, "a b", "é", "a/b", "a:b", "a\n", "a*", "\u0661"]
)
def test_room_names_refused(name: str) -> None:
    with pytest.raises(InvalidRoom) as caught:
        validate_room(name)
    assert caught.value.message == ROOM_MESSAGE


def test_parse_json_object() -> None:
    assert parse_json_object(b'{"a": [1]}') == {"a": [1]}
    assert parse_json_object('{"é": 1}') == {"é": 1}
    assert parse_json_object(b"{}") == {}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{bad", "request body is not valid JSON"),
        (b"", "request body is not valid JSON"),
        (b"\xff{}", "request body is not valid JSON"),
        (b"[]", "request body must be a JSON object"),
        (b"null", "request body must be a JSON object"),
        (b'"{}"', "request body must be a JSON object"),
    ],
)
def test_parse_json_object_refusals(body: bytes, message: str) -> None:
    with pytest.raises(InvalidJSON) as caught:
        parse_json_object(body)
    assert caught.value.message == message
    with pytest.raises(InvalidJSON) as caught:
        parse_json_object(body, "frame")
    assert caught.value.message == message.replace("request body", "frame")


@pytest.mark.parametrize(
    ("raw", "user"),
    [("a", "a"), ("  alice\t", "alice"), ("x" * 64, "x" * 64), (" " + "x" * 64 + " ", "x" * 64)],
)
def test_user_accepted_trimmed(raw: str, user: str) -> None:
    assert validate_user(raw) == user


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (5, "user must be a string"),
        (None, "user must be a string"),
        ("", "user must not be blank"),
        (" \t\n", "user must not be blank"),
        ("x" * 65, "user must be at most 64 characters"),
        ("a\x00", "user must not contain control characters"),
        ("a\tb", "user must not contain control characters"),
        ("a\x9fb", "user must not contain control characters"),
    ],
)
def test_user_refused(raw: object, message: str) -> None:
    with pytest.raises(InvalidMessage) as caught:
        validate_user(raw)
    assert caught.value.message == message


@pytest.mark.parametrize("raw", ["a", " a ", "l1\nl2\tt", "x" * 10, "é" * 10])
def test_text_accepted_as_sent(raw: str) -> None:
    assert validate_text(raw, 10) is raw


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (5, "text must be a string"),
        (["hi"], "text must be a string"),
        ("", "text must not be blank"),
        (" \n\t", "text must not be blank"),
        ("x" * 11, "text must be at most 10 characters"),
        ("bell\x07", "text must not contain control characters other than newline and tab"),
        ("cr\r", "text must not contain control characters other than newline and tab"),
        ("c1\x85", "text must not contain control characters other than newline and tab"),
    ],
)
def test_text_refused(raw: object, message: str) -> None:
    with pytest.raises(InvalidMessage) as caught:
        validate_text(raw, 10)
    assert caught.value.message == message


@pytest.mark.parametrize("raw", ["c", "x" * 64, "é-1 2"])
def test_client_id_accepted(raw: str) -> None:
    assert validate_client_id(raw) is raw


def test_client_id_null_is_absent() -> None:
    assert validate_client_id(None) is None


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (3, "client_id must be a string"),
        (False, "client_id must be a string"),
        ("", "client_id must be 1 to 64 characters"),
        ("x" * 65, "client_id must be 1 to 64 characters"),
        ("tab\there", "client_id must be printable characters"),
        ("nl\n", "client_id must be printable characters"),
    ],
)
def test_client_id_refused(raw: object, message: str) -> None:
    with pytest.raises(InvalidMessage) as caught:
        validate_client_id(raw)
    assert caught.value.message == message


@pytest.mark.parametrize("raw", [1, 2, MAX_TARGET])
def test_target_accepted(raw: int) -> None:
    assert validate_target(raw) == raw


@pytest.mark.parametrize("raw", [0, -1, MAX_TARGET + 1, True, False, 1.0, "1", "\u0661", "", None])
def test_target_refused(raw: object) -> None:
    """A JSON whole number from 1: not a bool, a float, or a string of digits of any script."""
    with pytest.raises(InvalidMessage) as caught:
        validate_target(raw)
    assert caught.value.message == TARGET_MESSAGE


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        (None, MESSAGE),
        ("publish", MESSAGE),
        ("message", MESSAGE),
        ("edit", EDIT),
        ("delete", DELETE),
    ],
)
def test_publish_kind(raw: object, kind: str) -> None:
    assert publish_kind(raw) == kind


@pytest.mark.parametrize("raw", ["", "Edit", "subscribe", 1, ["edit"]])
def test_publish_kind_refused(raw: object) -> None:
    with pytest.raises(InvalidMessage) as caught:
        publish_kind(raw)
    assert caught.value.message == "type must be publish, message, edit or delete"


def test_publish_of_a_message() -> None:
    fields = {"user": " alice ", "text": " hi ", "client_id": "c-1", "target": 3}
    assert validate_publish("r", fields, 10) == Publish(
        room="r", user="alice", text=" hi ", client_id="c-1", kind=MESSAGE, target=None
    )
    assert validate_publish("r", {"type": "publish", "user": "a", "text": "b"}, 1) == Publish(
        "r", "a", "b"
    )
    assert Publish("r", "a", "b") == Publish("r", "a", "b", None, MESSAGE, None)


def test_publish_of_an_edit_and_a_delete() -> None:
    edit = {"type": "edit", "user": "a", "text": "new", "target": 7, "client_id": "c"}
    assert validate_publish("r", edit, 10) == Publish("r", "a", "new", "c", EDIT, 7)
    delete = {"type": "delete", "user": "a", "target": 1}
    assert validate_publish("r", delete, 10) == Publish("r", "a", "", None, DELETE, 1)
    # A delete's text, if sent, is neither checked nor kept.
    sent = {**delete, "text": 5}
    assert validate_publish("r", sent, 10) == Publish("r", "a", "", None, DELETE, 1)


def test_publish_without_user_when_a_token_names_it() -> None:
    assert validate_publish("r", {"text": "hi"}, 10, user_required=False) == Publish(
        "r", NO_USER, "hi"
    )
    assert validate_publish("r", {"user": " a ", "text": "hi"}, 10, user_required=False).user == "a"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"text": "hi"}, "user is required"),
        ({"user": "a"}, "text is required"),
        ({"type": "edit", "user": "a", "target": 1}, "text is required"),
        ({"type": "edit", "user": "a", "text": "t"}, "target is required"),
        ({"type": "delete", "user": "a"}, "target is required"),
        ({"type": "delete", "user": "a", "target": 0}, TARGET_MESSAGE),
        ({"type": "edit", "user": "a", "text": "t", "target": "1"}, TARGET_MESSAGE),
        (
            {"type": "edit", "user": "a", "text": "x" * 11, "target": 1},
            "text must be at most 10 characters",
        ),
        (
            {"type": "nope", "user": "a", "text": "t"},
            "type must be publish, message, edit or delete",
        ),
        ({"user": " ", "text": "hi"}, "user must not be blank"),
        ({"user": "a", "text": "hi", "client_id": ""}, "client_id must be 1 to 64 characters"),
    ],
)
def test_publish_refusals(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidMessage) as caught:
        validate_publish("r", fields, 10)
    assert caught.value.message == message


def test_publish_refusals_with_a_token() -> None:
    with pytest.raises(InvalidMessage) as caught:
        validate_publish("r", {"user": "a"}, 10, user_required=False)
    assert caught.value.message == "text is required"
    with pytest.raises(InvalidMessage) as caught:
        validate_publish("r", {"user": "", "text": "t"}, 10, user_required=False)
    assert caught.value.message == "user must not be blank"


def test_message_wire_object() -> None:
    """Exact bytes: key order, ``client_id`` only when sent, ``kind``/``target`` only on
    corrections."""
    plain = Message(3, "r", "alice", "hi", 1700000000000)
    assert orjson.dumps(plain.to_dict()) == (
        b'{"id":3,"room":"r","user":"alice","text":"hi","ts":1700000000000}'
    )
    assert Message(3, "r", "a", "t", 1) == Message(3, "r", "a", "t", 1, None, MESSAGE, None)
    keyed = Message(4, "r", "a", "t", 5, client_id="c")
    assert orjson.dumps(keyed.to_dict()) == (
        b'{"id":4,"room":"r","user":"a","text":"t","ts":5,"client_id":"c"}'
    )
    edit = Message(5, "r", "a", "t2", 6, "c", EDIT, 4)
    assert orjson.dumps(edit.to_dict()) == (
        b'{"id":5,"room":"r","user":"a","text":"t2","ts":6,"client_id":"c","kind":"edit","target":4}'
    )
    delete = Message(6, "r", "a", "", 7, kind=DELETE, target=4)
    assert orjson.dumps(delete.to_dict()) == (
        b'{"id":6,"room":"r","user":"a","text":"","ts":7,"kind":"delete","target":4}'
    )
    # An empty client_id is still one the publisher sent (never made by validation, but
    # to_dict tells absent from empty).
    assert "client_id" in Message(1, "r", "a", "t", 1, "").to_dict()


@pytest.mark.parametrize(
    ("fields", "client_id"),
    [({"client_id": "c"}, "c"), ({"client_id": ""}, ""), ({"client_id": 3}, None), ({}, None)],
)
def test_client_id_of_a_frame(fields: dict[str, Any], client_id: str | None) -> None:
    assert client_id_of(fields) == client_id
