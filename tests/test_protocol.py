"""Pure protocol logic: validation, cursors and encodings, with no sockets."""

from __future__ import annotations

import struct
import unicodedata

import orjson
import pytest

from hubbub.errors import InvalidJSON, InvalidMessage, InvalidParameter, InvalidRoom
from hubbub.protocol.cursors import (
    Bounds,
    Cursor,
    parse_id,
    parse_last_event_id,
    parse_read_query,
    stream_start,
)
from hubbub.protocol.encoding import (
    SSE,
    WS,
    EncodedMessage,
    poll_body,
    ws_ack,
    ws_close_frame,
    ws_error,
    ws_frame,
)
from hubbub.protocol.messages import (
    CONTROL,
    CONTROL_BUT_NEWLINE_TAB,
    NO_USER,
    Message,
    parse_json_object,
    validate_publish,
    validate_room,
)


@pytest.mark.parametrize("name", ["general", "a", "A-Z_0.9", "x" * 64, "a.b"])
def test_valid_room_names(name: str) -> None:
    """Names of 1-64 allowed characters not starting with a dot are accepted."""
    assert validate_room(name) == name


@pytest.mark.parametrize("name", ["", ".hidden", "x" * 65, "sp ace", "é", "a/b", "a\n"])
def test_invalid_room_names(name: str) -> None:
    """Anything else is invalid_room."""
    with pytest.raises(InvalidRoom):
        validate_room(name)


@pytest.mark.parametrize("body", [b"{bad", b"[1, 2]", b'"text"', b"\xff\xfe{}", b""])
def test_body_must_be_a_json_object(body: bytes) -> None:
    """Not JSON, not UTF-8, or not an object is invalid_json."""
    with pytest.raises(InvalidJSON):
        parse_json_object(body)


def test_publish_is_validated_and_user_trimmed() -> None:
    """A good publish keeps its text as sent and trims the user."""
    pub = validate_publish(
        "r", {"user": "  alice ", "text": " hi\n\tthere", "client_id": "c-1"}, 10
    )
    assert (pub.user, pub.text, pub.client_id) == ("alice", " hi\n\tthere", "c-1")
    assert validate_publish("r", {"user": "a", "text": "b", "client_id": None}, 5).client_id is None


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"text": "hi"}, "user"),
        ({"user": "a"}, "text"),
        ({"user": 5, "text": "hi"}, "user"),
        ({"user": "   ", "text": "hi"}, "user"),
        ({"user": "x" * 65, "text": "hi"}, "user"),
        ({"user": "a\x07", "text": "hi"}, "user"),
        ({"user": "a", "text": "   \n"}, "text"),
        ({"user": "a", "text": "x" * 11}, "text"),
        ({"user": "a", "text": "bell\x07"}, "text"),
        ({"user": "a", "text": "cr\r"}, "text"),
        ({"user": "a", "text": ["hi"]}, "text"),
        ({"user": "a", "text": "hi", "client_id": 3}, "client_id"),
        ({"user": "a", "text": "hi", "client_id": ""}, "client_id"),
        ({"user": "a", "text": "hi", "client_id": "x" * 65}, "client_id"),
        ({"user": "a", "text": "hi", "client_id": "tab\there"}, "client_id"),
    ],
)
def test_invalid_publish_names_the_field(fields: dict[str, object], field: str) -> None:
    """Every invalid_message names the offending field."""
    with pytest.raises(InvalidMessage) as caught:
        validate_publish("r", fields, 10)
    assert caught.value.message.startswith(field)


def test_user_may_be_left_out_only_when_a_token_names_it() -> None:
    """With access control on, a publish without user validates as NO_USER (stamped
    later from the token); a user given is still checked; off, user is required."""
    assert validate_publish("r", {"text": "hi"}, 10, user_required=False).user == NO_USER
    assert validate_publish("r", {"user": " a ", "text": "hi"}, 10, user_required=False).user == "a"
    with pytest.raises(InvalidMessage, match="user must not be blank"):
        validate_publish("r", {"user": " ", "text": "hi"}, 10, user_required=False)
    with pytest.raises(InvalidMessage, match="user is required"):
        validate_publish("r", {"text": "hi"}, 10)


@pytest.mark.parametrize(
    "raw", ["-1", "1.5", "x", "", " ", "١٢", "1e3", "+3", "9" * 20, "9" * 5000, str(2**63)]
)
def test_bad_cursors(raw: str) -> None:
    """A cursor is a whole number 0..2**63-1 in ASCII digits; anything else is a 400."""
    with pytest.raises(InvalidParameter):
        parse_id(raw)
    with pytest.raises(InvalidParameter):
        parse_last_event_id(raw if raw.strip() else "x")
    with pytest.raises(InvalidParameter):
        parse_last_event_id("epoch1:" + raw)


def test_last_event_id_forms() -> None:
    """Last-Event-ID is N, or EPOCH:N as the server wrote it."""
    assert parse_last_event_id("17") == Cursor(17)
    assert parse_last_event_id(" ab_C-9:17 ") == Cursor(17, "ab_C-9")
    assert parse_id(str(2**63 - 1)) == 2**63 - 1
    for bad in ("a b:1", ":1", "x" * 65 + ":1", "e:1:2"):
        with pytest.raises(InvalidParameter):
            parse_last_event_id(bad)


def test_read_query_defaults_and_ranges() -> None:
    """limit defaults to 100 and is 1..1000; wait is 0 < S <= 60."""
    query = parse_read_query({})
    assert (query.since, query.before, query.limit, query.wait) == (None, None, 100, None)
    assert parse_read_query({"since": "5", "limit": "1000", "wait": "0.5"}).wait == 0.5
    assert parse_read_query({"since": "5", "epoch": "e1"}).since == Cursor(5, "e1")
    assert parse_read_query({"epoch": "e1"}).since is None  # an epoch alone means nothing
    for bad in (
        {"limit": "0"},
        {"limit": "1001"},
        {"wait": "0"},
        {"wait": "61"},
        {"wait": "nan"},
        {"wait": "inf"},
        {"before": "0"},
        {"since": "1", "before": "5"},
        {"before": "5", "wait": "1"},
        {"since": "1", "epoch": "not an epoch"},
        {"limit": "9" * 5000},
        {"before": "9" * 5000},
        {"wait": "1" * 5000},
    ):
        with pytest.raises(InvalidParameter):
            parse_read_query(bad)


def test_stream_start_rules() -> None:
    """No cursor starts live; stale or future cursors are gaps served from first_id."""
    kept = Bounds(first_id=11, last_id=20, epoch="e")
    assert stream_start(None, kept).cursor == 20
    assert stream_start(Cursor(15), kept).gap is None
    assert stream_start(Cursor(10), kept).gap is None  # next wanted id is 11: nothing lost
    lost = stream_start(Cursor(9), kept)
    assert (lost.cursor, lost.gap) == (10, kept)
    reset = stream_start(Cursor(25), kept)
    assert (reset.cursor, reset.gap) == (10, kept)
    empty = stream_start(Cursor(7), Bounds())
    assert (empty.cursor, empty.gap) == (0, Bounds())
    assert stream_start(Cursor(0), Bounds()).gap is None


def test_epoch_rules() -> None:
    """A cursor of another epoch that saw something is a reset; of this epoch, plain rules."""
    kept = Bounds(first_id=1, last_id=200, epoch="new")
    assert stream_start(Cursor(100, "new"), kept).gap is None
    reset = stream_start(Cursor(100, "old"), kept)
    assert (reset.cursor, reset.gap) == (0, kept)  # told, then the new log from its start
    assert stream_start(Cursor(0, "old"), kept).gap is None  # saw nothing, lost nothing
    assert stream_start(Cursor(100), kept).gap is None  # no epoch: the plain rules
    trimmed = Bounds(first_id=50, last_id=200, epoch="new")
    assert stream_start(Cursor(0, "old"), trimmed).gap == trimmed  # retention still told


def _message(id_: int = 17, client_id: str | None = "c") -> EncodedMessage:
    return EncodedMessage(
        Message(id_, "general", "alice", 'he said "hi"\nbye', 1, client_id), "ep0ch"
    )


def test_sse_event_framing() -> None:
    """One event is id (EPOCH:N), event and a single data line, ended by a blank line."""
    event = _message().sse
    lines = event.split(b"\n")
    assert lines[:2] == [b"id: ep0ch:17", b"event: message"]
    assert lines[2].startswith(b"data: ")
    assert orjson.loads(lines[2][6:])["text"] == 'he said "hi"\nbye'
    assert event.endswith(b"\n\n") and event.count(b"\n") == 4
    gap = SSE.gap("r", Bounds(3, 9, "e"), 2)
    assert gap == (
        b'id: e:2\nevent: gap\ndata: {"room":"r","first_id":3,"last_id":9,"epoch":"e"}\n\n'
    )
    ready = SSE.ready("r", Bounds(3, 9, "e"), 5)
    assert ready.startswith(b"id: e:5\nevent: ready\ndata: ")
    assert orjson.loads(ready.split(b"data: ")[1]) == {
        "room": "r",
        "first_id": 3,
        "last_id": 9,
        "epoch": "e",
        "since": 5,
    }


def test_message_json_omits_absent_client_id() -> None:
    """client_id is present only when the publisher sent one."""
    assert "client_id" not in orjson.loads(_message(client_id=None).json)
    assert orjson.loads(_message().json)["client_id"] == "c"


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536, 70000])
def test_ws_frame_lengths(size: int) -> None:
    """Frames use the 7-bit, 16-bit and 64-bit length forms of RFC 6455."""
    frame = ws_frame(b"x" * size)
    assert frame[0] == 0x81
    if size < 126:
        assert frame[1] == size and len(frame) == size + 2
    elif size < 65536:
        assert frame[1] == 126 and struct.unpack("!H", frame[2:4])[0] == size
    else:
        assert frame[1] == 127 and struct.unpack("!Q", frame[2:10])[0] == size


def _payload(frame: bytes) -> object:
    offset = {126: 4, 127: 10}.get(frame[1], 2)
    return orjson.loads(frame[offset:])


def test_ws_payloads() -> None:
    """message, ack and error frames carry the protocol's JSON objects."""
    message = _message()
    assert _payload(message.ws) == {"type": "message", "message": message.message.to_dict()}
    ack = _payload(ws_ack(message, "c"))
    assert ack == {"type": "ack", "client_id": "c", "message": message.message.to_dict()}
    assert "client_id" not in _payload(ws_ack(message, None))  # type: ignore[operator]
    error = _payload(ws_error("invalid_json", "bad", None))
    assert error == {"type": "error", "code": "invalid_json", "message": "bad"}
    assert ws_close_frame(1013)[:4] == b"\x88\x02\x03\xf5"
    gap = _payload(WS.gap("r", Bounds(3, 9, "e"), 2))
    assert gap == {"type": "gap", "room": "r", "first_id": 3, "last_id": 9, "epoch": "e"}
    ready = _payload(WS.ready("r", Bounds(3, 9, "e"), 5))
    assert ready == {
        "type": "ready",
        "room": "r",
        "first_id": 3,
        "last_id": 9,
        "epoch": "e",
        "since": 5,
    }


def test_poll_body_splices_cached_json() -> None:
    """A poll answer holds the messages and the room's bounds."""
    body = orjson.loads(poll_body([_message(1), _message(2)], Bounds(1, 2, "e")))
    assert [m["id"] for m in body["messages"]] == [1, 2]
    assert (body["first_id"], body["last_id"], body["epoch"]) == (1, 2, "e")


def test_control_classes_are_unicode_cc() -> None:
    """The fast character classes match exactly Unicode category Cc (less \\n and \\t)."""
    for codepoint in range(0x110000):
        char = chr(codepoint)
        is_cc = unicodedata.category(char) == "Cc"
        assert bool(CONTROL.search(char)) == is_cc
        assert bool(CONTROL_BUT_NEWLINE_TAB.search(char)) == (is_cc and char not in "\n\t")
