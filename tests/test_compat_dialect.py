"""The tutorial dialect's shapes and field rules, as plain function calls."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from hubbub.compat.dialect import (
    ANONYMOUS,
    event_source_publish,
    listed,
    page_publish,
    sse_list_event,
    status_body,
    terminal_publish,
    tutorial_id,
)
from hubbub.errors import InvalidMessage
from hubbub.protocol.messages import Message, Publish


def message(id: int = 17, client_id: str | None = None, text: str = "hi") -> Message:
    return Message(id=id, room="lobby", user="alice", text=text, ts=1, client_id=client_id)


@pytest.mark.parametrize(
    ("client_id", "expected"),
    [(None, "m17"), ("12345", "12345"), ("c-9f1c", "c-9f1c"), ("m3", "m17"), ("m", "m")],
)
def test_tutorial_id(client_id: str | None, expected: str) -> None:
    """The publisher's own id where it sent one, else m<position>; never a look-alike."""
    assert tutorial_id(message(client_id=client_id)) == expected


def test_listed_and_sse_shapes() -> None:
    """GET /messages objects and the SSE list use the tutorials' field names."""
    assert orjson.loads(listed(message(client_id="7"))) == {
        "id": "7",
        "text": "hi",
        "username": "alice",
    }
    event = sse_list_event([b'{"user_id":"a","message":"x\\ny"}'])
    assert event == b'data: [{"user_id":"a","message":"x\\ny"}]\n\n'
    assert sse_list_event([]) == b"data: []\n\n"


def test_status_body() -> None:
    """The SSE tutorial's answers carry the status, and the code for a refusal."""
    assert orjson.loads(status_body(200, "Message sent")) == {
        "status": 200,
        "message": "Message sent",
    }
    assert orjson.loads(status_body(400, "no", "invalid_message"))["code"] == "invalid_message"


def test_page_publish_is_anonymous() -> None:
    """{"message": text} from the long-polling page is published as anonymous."""
    assert page_publish("lobby", {"message": "hi"}, 4000) == Publish("lobby", ANONYMOUS, "hi")


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({}, "message is required"),
        ({"message": None}, "message is required"),
        ({"message": " \n"}, "message must not be blank"),
        ({"message": 5}, "message must be a string"),
        ({"message": "x" * 11}, "message must be at most 10 characters"),
    ],
)
def test_page_publish_refusals_name_the_field(fields: dict[str, Any], error: str) -> None:
    """Errors name the tutorial's field, not the protocol's."""
    with pytest.raises(InvalidMessage, match=error):
        page_publish("lobby", fields, 10)


@pytest.mark.parametrize(
    ("raw", "client_id"),
    [(12345, "12345"), (3.0, "3"), (0.5, "0.5"), ("abc", "abc"), (None, None)],
)
def test_terminal_id_becomes_client_id(raw: object, client_id: str | None) -> None:
    """The terminal client's id is kept as String(id) would write it in JavaScript."""
    publish = terminal_publish("lobby", {"id": raw, "text": "t", "username": "bob"}, 4000)
    assert publish == Publish("lobby", "bob", "t", client_id)


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"id": True, "text": "t"}, "id must be a string or a number"),
        ({"id": [1], "text": "t"}, "id must be a string or a number"),
        ({"id": "x" * 65, "text": "t"}, "id must be 1 to 64 characters"),
        ({"id": 1}, "text is required"),
        ({"id": 1, "text": "t", "username": " "}, "username must not be blank"),
        ({"id": 1, "text": "t", "username": 7}, "username must be a string"),
    ],
)
def test_terminal_publish_refusals(fields: dict[str, Any], error: str) -> None:
    """Bad ids, texts and user names are refused, named as the client sent them."""
    with pytest.raises(InvalidMessage, match=error):
        terminal_publish("lobby", fields, 4000)


def test_terminal_publish_without_username_is_anonymous() -> None:
    """The tutorial's client sends no username when $NAME is unset."""
    assert terminal_publish("lobby", {"text": "t"}, 4000).user == ANONYMOUS


def test_event_source_publish() -> None:
    """POST /message?id=U publishes as U (trimmed); a missing or blank id is refused."""
    assert event_source_publish("lobby", " u1 ", {"message": "Hi"}, 4000) == Publish(
        "lobby", "u1", "Hi"
    )
    with pytest.raises(InvalidMessage, match="id is required"):
        event_source_publish("lobby", None, {"message": "Hi"}, 4000)
    with pytest.raises(InvalidMessage, match="id must not be blank"):
        event_source_publish("lobby", "", {"message": "Hi"}, 4000)
