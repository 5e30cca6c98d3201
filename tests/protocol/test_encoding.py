"""Wire encodings, byte for byte (``hubbub.protocol.encoding``).

Every frame and event the server writes is compared with the exact bytes
docs/protocol.md describes, so a changed key, a lost newline or a wrong length
header fails here rather than in a client.
"""

from __future__ import annotations

import struct

import orjson
import pytest

from hubbub.protocol.cursors import Bounds
from hubbub.protocol.encoding import (
    SSE,
    SSE_EXPIRED,
    SSE_PING,
    SSE_RETRY,
    WS,
    WS_MULTI,
    WS_OPCODE_CLOSE,
    WS_OPCODE_TEXT,
    WS_PING_FRAME,
    EncodedMessage,
    EventStreamFormat,
    MultiplexFormat,
    WebSocketFormat,
    WireFormat,
    error_body,
    json_room,
    latest_body,
    poll_body,
    ws_ack,
    ws_close_frame,
    ws_error,
    ws_frame,
    ws_multi_ack,
)
from hubbub.protocol.messages import EDIT, ROOM_NAME, Message

MESSAGE = Message(17, "general", "alice", 'he said "hi"\nbye', 1700000000123, "c-1")
MESSAGE_JSON = (
    b'{"id":17,"room":"general","user":"alice","text":"he said \\"hi\\"\\nbye",'
    b'"ts":1700000000123,"client_id":"c-1"}'
)
BOUNDS = Bounds(first_id=3, last_id=9, epoch="ep0ch")


def _text_frame(payload: bytes) -> bytes:
    """A short server text frame: FIN + text opcode, 7-bit length, no mask."""
    assert len(payload) < 126
    return bytes([0x81, len(payload)]) + payload


def _encoded(message: Message = MESSAGE) -> EncodedMessage:
    return EncodedMessage(message, "ep0ch")


def test_constant_frames_and_lines() -> None:
    assert SSE_RETRY == b"retry: 3000\n"
    assert SSE_PING == b": ping\n\n"
    assert SSE_EXPIRED == (
        b'event: expired\ndata: {"code":"unauthorized","message":"token expired"}\n\n'
    )
    assert WS_PING_FRAME == b"\x89\x00"
    assert (WS_OPCODE_TEXT, WS_OPCODE_CLOSE) == (1, 8)


@pytest.mark.parametrize(
    ("size", "header"),
    [
        (0, b"\x81\x00"),
        (1, b"\x81\x01"),
        (125, b"\x81\x7d"),  # the longest 7-bit length
        (126, b"\x81\x7e\x00\x7e"),  # the shortest 16-bit length
        (65535, b"\x81\x7e\xff\xff"),  # the longest 16-bit length
        (65536, b"\x81\x7f\x00\x00\x00\x00\x00\x01\x00\x00"),  # the shortest 64-bit length
    ],
)
def test_ws_frame_length_forms(size: int, header: bytes) -> None:
    """RFC 6455 section 5.2: 7-bit, 16-bit and 64-bit payload lengths, never masked."""
    payload = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
    assert ws_frame(payload) == header + payload


def test_ws_frame_opcodes() -> None:
    assert ws_frame(b"x", WS_OPCODE_CLOSE) == b"\x88\x01x"
    assert ws_frame(b"", 0x9) == b"\x89\x00"
    assert ws_frame(b"ab", 0xA) == b"\x8a\x02ab"


def test_ws_close_frame() -> None:
    assert ws_close_frame(1000) == b"\x88\x02\x03\xe8"
    assert ws_close_frame(1013, "slow consumer") == b"\x88\x0f\x03\xf5slow consumer"
    assert ws_close_frame(4401, "token expired") == b"\x88\x0f\x11\x31token expired"


def test_ws_close_reason_is_cut_to_120_bytes() -> None:
    """A control frame holds 125 bytes: the 2-byte code and at most 120 of reason."""
    assert ws_close_frame(1008, "r" * 120) == b"\x88\x7a\x03\xf0" + b"r" * 120
    assert ws_close_frame(1008, "r" * 121) == b"\x88\x7a\x03\xf0" + b"r" * 120


def test_ws_close_reason_is_cut_at_a_character() -> None:
    """A reason cut inside a UTF-8 sequence would be invalid UTF-8, which the client
    must fail the connection on (RFC 6455 section 8.1): the cut drops the whole character."""
    reason = "r" * 119 + "é"  # "é" is 2 bytes: bytes 120 and 121
    frame = ws_close_frame(1008, reason)
    assert frame == b"\x88\x79\x03\xf0" + b"r" * 119
    assert ws_close_frame(1008, "r" * 118 + "é") == b"\x88\x7a\x03\xf0" + ("r" * 118 + "é").encode()


def test_encoded_message_forms() -> None:
    encoded = _encoded()
    assert (encoded.id, encoded.message, encoded.epoch) == (17, MESSAGE, "ep0ch")
    assert encoded.json == MESSAGE_JSON
    assert encoded.sse == b"id: ep0ch:17\nevent: message\ndata: " + MESSAGE_JSON + b"\n\n"
    ws_payload = b'{"type":"message","message":' + MESSAGE_JSON + b"}"
    assert encoded.ws == b"\x81\x7e" + struct.pack("!H", len(ws_payload)) + ws_payload


def test_encoded_message_forms_are_built_once() -> None:
    encoded = _encoded()
    assert encoded.sse is encoded.sse
    assert encoded.ws is encoded.ws
    built: list[Message] = []

    def build(message: Message) -> bytes:
        built.append(message)
        return b"form %d" % message.id

    assert encoded.form("a", build) == b"form 17"
    assert encoded.form("a", build) == b"form 17"
    assert encoded.form("b", lambda m: b"other") == b"other"
    assert encoded.form("a", build) == b"form 17"
    assert built == [MESSAGE]


def test_base_wire_format() -> None:
    """A format without gap, ready or ephemeral events writes nothing for them."""
    plain = WireFormat("plain")
    assert (plain.name, plain.chunked) == ("plain", False)
    assert WireFormat("c", chunked=True).chunked is True
    assert plain.gap("r", BOUNDS, 2) == b""
    assert plain.ready("r", BOUNDS, 2) == b""
    assert plain.event("r", "presence", {"users": []}) == b""
    with pytest.raises(NotImplementedError):
        plain.message(_encoded())


def test_the_three_formats() -> None:
    assert (type(WS), WS.name, WS.chunked) == (WebSocketFormat, "ws", False)
    assert (type(WS_MULTI), WS_MULTI.name, WS_MULTI.chunked) == (MultiplexFormat, "ws-multi", False)
    assert (type(SSE), SSE.name, SSE.chunked) == (EventStreamFormat, "sse", True)


def test_websocket_frames() -> None:
    encoded = _encoded()
    assert WS.message(encoded) is encoded.ws
    assert WS.gap("r", BOUNDS, 2) == _text_frame(
        b'{"type":"gap","room":"r","first_id":3,"last_id":9,"epoch":"ep0ch"}'
    )
    assert WS.ready("r", BOUNDS, 5) == _text_frame(
        b'{"type":"ready","room":"r","first_id":3,"last_id":9,"epoch":"ep0ch","since":5}'
    )
    assert WS.ready("r", Bounds(), 0) == _text_frame(
        b'{"type":"ready","room":"r","first_id":0,"last_id":0,"epoch":"","since":0}'
    )
    presence = WS.event("r", "presence", {"users": ["a", "b"]})
    assert presence == _text_frame(b'{"type":"presence","room":"r","users":["a","b"]}')
    typing = WS.event("r", "typing", {"user": "a"})
    assert typing == _text_frame(b'{"type":"typing","room":"r","user":"a"}')


def test_multiplex_frames_name_their_room() -> None:
    """On GET /ws a message frame names its room at the top level; other frames are the
    per-room WebSocket's (they already carry ``room``)."""
    encoded = _encoded(Message(2, "r", "a", "t", 5))
    frame = WS_MULTI.message(encoded)
    assert frame == _text_frame(
        b'{"type":"message","room":"r","message":{"id":2,"room":"r","user":"a","text":"t","ts":5}}'
    )
    assert WS_MULTI.message(encoded) is frame  # built once per message
    assert encoded.form("compat", lambda m: b"another view") == b"another view"
    assert WS_MULTI.message(encoded) is frame
    assert WS_MULTI.gap("r", BOUNDS, 2) == WS.gap("r", BOUNDS, 2)
    assert WS_MULTI.ready("r", BOUNDS, 5) == WS.ready("r", BOUNDS, 5)
    edit = _encoded(Message(3, "r", "a", "t2", 6, kind=EDIT, target=2))
    assert WS_MULTI.message(edit) == _text_frame(
        b'{"type":"message","room":"r","message":'
        b'{"id":3,"room":"r","user":"a","text":"t2","ts":6,"kind":"edit","target":2}}'
    )


def test_sse_events() -> None:
    encoded = _encoded()
    assert SSE.message(encoded) is encoded.sse
    assert SSE.gap("r", BOUNDS, 2) == (
        b'id: ep0ch:2\nevent: gap\ndata: {"room":"r","first_id":3,"last_id":9,"epoch":"ep0ch"}\n\n'
    )
    assert SSE.ready("r", BOUNDS, 5) == (
        b"id: ep0ch:5\nevent: ready\n"
        b'data: {"room":"r","first_id":3,"last_id":9,"epoch":"ep0ch","since":5}\n\n'
    )
    # Ephemeral events carry no id: the browser's Last-Event-ID stays the cursor.
    assert SSE.event("r", "presence", {"users": ["a"]}) == (
        b'event: presence\ndata: {"room":"r","users":["a"]}\n\n'
    )
    assert SSE.event("r", "typing", {"user": "a"}) == (
        b'event: typing\ndata: {"room":"r","user":"a"}\n\n'
    )


def test_ack_frames() -> None:
    encoded = _encoded(Message(2, "r", "a", "t", 5, "c"))
    json = b'{"id":2,"room":"r","user":"a","text":"t","ts":5,"client_id":"c"}'
    assert ws_ack(encoded, "c") == _text_frame(
        b'{"type":"ack","client_id":"c","message":' + json + b"}"
    )
    assert ws_ack(encoded, None) == _text_frame(b'{"type":"ack","message":' + json + b"}")
    assert ws_ack(encoded, 'q"') == _text_frame(
        b'{"type":"ack","client_id":"q\\"","message":' + json + b"}"
    )


def test_error_frames_and_bodies() -> None:
    assert ws_error("invalid_json", "bad", None) == _text_frame(
        b'{"type":"error","code":"invalid_json","message":"bad"}'
    )
    assert ws_error("rate_limited", "slow down", "c") == _text_frame(
        b'{"type":"error","code":"rate_limited","message":"slow down","client_id":"c"}'
    )
    assert error_body("invalid_room", "no") == (b'{"error":{"code":"invalid_room","message":"no"}}')


def test_poll_bodies() -> None:
    one = _encoded(Message(1, "r", "a", "x", 5))
    two = _encoded(Message(2, "r", "b", "y", 6, "c"))
    assert poll_body([one, two], Bounds(1, 2, "e")) == (
        b'{"messages":[{"id":1,"room":"r","user":"a","text":"x","ts":5},'
        b'{"id":2,"room":"r","user":"b","text":"y","ts":6,"client_id":"c"}],'
        b'"first_id":1,"last_id":2,"epoch":"e"}'
    )
    assert poll_body([], Bounds()) == b'{"messages":[],"first_id":0,"last_id":0,"epoch":""}'
    latest = [{"id": 1, "text": "", "deleted": True}]
    assert latest_body(latest, Bounds(1, 3, "e")) == (
        b'{"messages":[{"id":1,"text":"","deleted":true}],"first_id":1,"last_id":3,"epoch":"e"}'
    )
    assert latest_body([], Bounds()) == poll_body([], Bounds())


@pytest.mark.parametrize("client_id", [None, "c-9f1c", 'c"\u00e9'])
def test_the_multiplex_ack_is_the_json_of_its_fields(client_id: str | None) -> None:
    """``GET /ws``'s ack, built from the message's JSON, is what dumping its fields gives."""
    message = EncodedMessage(Message(7, "general", "ann", "hi \u00e9", 1700000000000), "e1")
    frame: dict[str, object] = {"type": "ack", "room": "general"}
    if client_id is not None:
        frame["client_id"] = client_id
    frame["message"] = message.message.to_dict()
    assert ws_multi_ack("general", message, client_id) == ws_frame(orjson.dumps(frame))


@pytest.mark.parametrize(
    "message",
    [
        Message(
            7, "general", "ann", 'hi \u00e9 "q" \\ \n\u2028 \U0001f600', 1700000000000, "c\u00e9"
        ),
        Message(8, "r-1.x_", "bob", "", 1, kind=EDIT, target=7),
    ],
)
def test_the_multiplex_message_is_the_json_of_its_fields(message: Message) -> None:
    """``GET /ws``'s message frame, spliced from the message's JSON, is what dumping its
    fields gives (the frame it replaced)."""
    frame = {"type": "message", "room": message.room, "message": message.to_dict()}
    assert WS_MULTI.message(EncodedMessage(message, "e1")) == ws_frame(orjson.dumps(frame))


def test_a_room_name_is_its_own_json() -> None:
    """Every character a room name may hold needs no escape: the name spliced between
    quotes is what an encoder gives (the multiplex frames splice it so)."""
    legal = "".join(chr(c) for c in range(128) if ROOM_NAME.fullmatch("x" + chr(c)))
    assert set(legal) == set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")
    for name in (legal[:64], legal[64:], "a", "r-1.x_"):
        assert ROOM_NAME.fullmatch(name)
        assert json_room(name) == orjson.dumps(name)
