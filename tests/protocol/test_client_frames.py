"""Client frames parsed without the WebSocket library (``encoding.client_messages``):
exactly what the library parses from the same bytes (a frame cut by the read kept for
the next), or None for anything it must judge."""

from __future__ import annotations

import os
import struct

import pytest
from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.server import ServerProtocol

from hubbub.protocol.encoding import client_messages

MAX = 1 << 16


def client_frame(payload: bytes, first: int = 0x81, *, masked: bool = True) -> bytes:
    """A client frame as a browser writes it: masked with a random key."""
    size = len(payload)
    if size < 126:
        head = struct.pack("!BB", first, size | (0x80 if masked else 0))
    elif size < 1 << 16:
        head = struct.pack("!BBH", first, 126 | (0x80 if masked else 0), size)
    else:
        head = struct.pack("!BBQ", first, 127 | (0x80 if masked else 0), size)
    if not masked:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def library_messages(data: bytes) -> list[tuple[int, bytes]]:
    ws = ServerProtocol(state=State.OPEN, max_size=MAX)
    ws.receive_data(data)
    frames = [event for event in ws.events_received() if isinstance(event, Frame)]
    return [(int(frame.opcode), bytes(frame.data)) for frame in frames]


@pytest.mark.parametrize(
    "frames",
    [
        [client_frame(b'{"type":"subscribe","room":"p1","since":0}')],
        [client_frame(b"a"), client_frame(b"b" * 125), client_frame(b"c" * 126)],
        [client_frame(b"d" * 40_000), client_frame(b"\x00\x01", first=0x82)],
        [client_frame(b"")],
        [client_frame("caf\u00e9".encode())],
    ],
)
def test_whole_data_frames_are_what_the_library_parses(frames: list[bytes]) -> None:
    data = b"".join(frames)
    assert client_messages(data, MAX) == (library_messages(data), len(data))


def test_a_frame_cut_by_the_read_waits_for_the_rest() -> None:
    """Cut at every byte: the whole frames before the cut, and where the cut one starts;
    read again with the rest, all of them, as the library parses them."""
    frames = [client_frame(b"a" * 5), client_frame(b"b" * 300), client_frame(b"c", first=0x82)]
    data = b"".join(frames)
    starts = [0, len(frames[0]), len(frames[0]) + len(frames[1]), len(data)]
    for cut in range(len(data) + 1):
        found = client_messages(data[:cut], MAX)
        assert found is not None, cut
        messages, start = found
        whole = max(i for i, at in enumerate(starts) if at <= cut)
        assert start == starts[whole]
        assert messages == library_messages(b"".join(frames[:whole]))
        rest = client_messages(data[start:], MAX)
        assert rest is not None
        assert messages + rest[0] == library_messages(data)


@pytest.mark.parametrize(
    "data",
    [
        client_frame(b"", first=0x89),  # a ping: the library answers it
        client_frame(b"\x03\xe8", first=0x88),  # a close
        client_frame(b"part", first=0x01),  # a first fragment (no FIN)
        client_frame(b"rsv", first=0xC1),  # a reserved bit (the library fails it: 1002)
        client_frame(b"plain", masked=False),  # unmasked (1002)
        client_frame(b"x" * 70_000),  # a 64-bit length
        client_frame(b"x" * 70_000)[:2],  # a 64-bit length, cut after it says so
        client_frame(b"x" * (MAX + 1))[:-5],  # over max_size (1009), cut or not
        client_frame(b"x" * (MAX + 1))[:4],  # ... known from its length alone
        client_frame(b"ok") + client_frame(b"", first=0x89)[:1],  # a ping's first byte
        client_frame(b"ok") + client_frame(b"", first=0x89),  # whole frames, then a ping
    ],
)
def test_anything_else_is_left_to_the_library(data: bytes) -> None:
    assert client_messages(data, MAX) is None


def test_a_frame_over_the_limit_is_left_to_the_library() -> None:
    assert client_messages(client_frame(b"x" * 101), 100) is None
    whole = client_frame(b"x" * 100)
    assert client_messages(whole, 100) == ([(int(Opcode.TEXT), b"x" * 100)], len(whole))


def test_a_16_bit_length_over_the_limit_is_left_to_the_library_once_read() -> None:
    """As soon as the read holds the two length bytes, not when the rest has come: the
    library then refuses it (1009) without the server holding the frame's start."""
    head = struct.pack("!BBH", 0x81, 126 | 0x80, 1000)
    assert client_messages(head, 999) is None
    assert client_messages(head[:3], 999) == ([], 0)  # the length not all read yet
    assert client_messages(head, 1000) == ([], 0)  # within the limit: waits for the rest
