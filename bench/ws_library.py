"""Which sans-I/O WebSocket library hubbub's sockets stand on: ``websockets`` or ``wsproto``.

    .venv/bin/python -m bench.ws_library            # both, a few seconds
    .venv/bin/python -m bench.ws_library --json     # the figures as one JSON object

What each costs where hubbub spends: memory per idle connection once open (tracemalloc
of 1,000 server connections after their handshake, and the process's RSS delta over
them), receiving small masked text frames (one ``receive_data`` per frame, as a socket
read gives, events taken and the text decoded), and sending one pre-encoded frame to
1,000 connections (the state check hubbub makes before writing the cached bytes, and for
comparison the library framing the message itself for each connection). No sockets: the
transport is a list, so the figures are the library's and the adapter's Python work.
"""

from __future__ import annotations

import argparse
import base64
import gc
import json
import os
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

from websockets.frames import Opcode
from websockets.protocol import State
from wsproto.connection import ConnectionState
from wsproto.events import TextMessage

CONNECTIONS = 1_000
FRAMES = 20_000
KEY = base64.b64encode(b"0123456789abcdef").decode()
HANDSHAKE = (
    "GET /rooms/r/messages HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\n"
    f"Connection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
).encode()
TEXT = b'{"type":"publish","user":"u","text":"' + b"x" * 60 + b'"}'
FRAME = b"\x00" * 100  # the size of a shared message frame


def masked_text(payload: bytes, mask: bytes = b"\x01\x02\x03\x04") -> bytes:
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    assert len(payload) < 126
    return bytes([0x81, 0x80 | len(payload)]) + mask + masked


def rss_kib() -> int:
    with open(f"/proc/{os.getpid()}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


# websockets: ServerProtocol (the Sans-I/O layer)


def websockets_open() -> Any:
    from websockets.server import ServerProtocol

    handshake = ServerProtocol(max_size=65536)
    handshake.receive_data(HANDSHAKE)
    (request,) = handshake.events_received()
    handshake.send_response(handshake.accept(request))
    handshake.data_to_send()
    # The handshake's parser keeps its request (headers and all) for the life of the
    # connection: frames go to a protocol made open, as hubbub's sockets do.
    return ServerProtocol(state=State.OPEN, max_size=65536)


def websockets_receive(protocol: Any, data: bytes) -> int:
    protocol.receive_data(data)
    taken = 0
    for frame in protocol.events_received():
        if frame.opcode is Opcode.TEXT:
            frame.data.decode()
            taken += 1
    return taken


def websockets_writable(protocol: Any) -> bool:
    return protocol.state is State.OPEN


def websockets_frame_each(protocol: Any) -> bytes:
    protocol.send_text(FRAME)
    return protocol.data_to_send()[0]  # type: ignore[no-any-return]


# wsproto: WSConnection (handshake through h11) and its frame protocol


def wsproto_open() -> Any:
    from wsproto import ConnectionType, WSConnection
    from wsproto.events import AcceptConnection, Request

    connection = WSConnection(ConnectionType.SERVER)
    connection.receive_data(HANDSHAKE)
    for event in connection.events():
        assert isinstance(event, Request)
    connection.send(AcceptConnection())
    return connection


def wsproto_receive(connection: Any, data: bytes) -> int:
    connection.receive_data(data)
    taken = 0
    for event in connection.events():
        if isinstance(event, TextMessage):
            taken += 1  # wsproto has decoded (and checked) the UTF-8 itself
    return taken


def wsproto_writable(connection: Any) -> bool:
    return connection.state is ConnectionState.OPEN  # type: ignore[no-any-return]


def wsproto_frame_each(connection: Any) -> bytes:
    return connection.send(TextMessage(data=FRAME.decode()))  # type: ignore[no-any-return]


LIBRARIES: dict[str, tuple[Callable[[], Any], Callable[[Any, bytes], int], Callable[..., Any]]] = {
    "websockets": (websockets_open, websockets_receive, websockets_writable),
    "wsproto": (wsproto_open, wsproto_receive, wsproto_writable),
}
FRAME_EACH = {"websockets": websockets_frame_each, "wsproto": wsproto_frame_each}


def measure(name: str) -> dict[str, float]:
    open_one, receive, writable = LIBRARIES[name]
    open_one()  # imports and first-use caches out of the measurement
    gc.collect()
    rss_before = rss_kib()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    connections = [open_one() for _ in range(CONNECTIONS)]
    gc.collect()
    traced = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    rss_delta = rss_kib() - rss_before
    connections = [open_one() for _ in range(CONNECTIONS)]  # RSS again, untraced
    gc.collect()

    frame = masked_text(TEXT)
    one = connections[0]
    started = time.perf_counter()
    taken = sum(receive(one, frame) for _ in range(FRAMES))
    receive_us = (time.perf_counter() - started) / FRAMES * 1e6
    assert taken == FRAMES

    sent: list[bytes] = []
    write = sent.append
    rounds = 20
    started = time.perf_counter()
    for _ in range(rounds):
        for connection in connections:
            if writable(connection):
                write(FRAME)
    shared_ns = (time.perf_counter() - started) / (rounds * CONNECTIONS) * 1e9
    frame_each = FRAME_EACH[name]
    started = time.perf_counter()
    for connection in connections:
        write(frame_each(connection))
    framed_ns = (time.perf_counter() - started) / CONNECTIONS * 1e9
    return {
        "traced_bytes_per_connection": traced / CONNECTIONS,
        "rss_kib_per_connection": rss_delta / CONNECTIONS,
        "receive_us_per_small_text_frame": receive_us,
        "send_shared_ns_per_socket": shared_ns,
        "send_framed_by_library_ns_per_socket": framed_ns,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--library", choices=sorted(LIBRARIES), help="only this one")
    args = parser.parse_args()
    names = [args.library] if args.library else sorted(LIBRARIES)
    results = {name: measure(name) for name in names}
    if args.json:
        print(json.dumps(results))
        return
    for name, figures in results.items():
        print(name)
        for key, value in figures.items():
            print(f"  {key}: {value:.2f}")


if __name__ == "__main__":
    main()
