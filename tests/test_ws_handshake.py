"""The WebSocket ``101``: hubbub's own answer to an ordinary handshake is the library's,
byte for byte, and every other request is still judged by the library (issue 19)."""

from __future__ import annotations

import base64
import binascii

import pytest
from websockets.datastructures import Headers
from websockets.http11 import Request
from websockets.server import ServerProtocol

from hubbub.errors import InvalidRequest
from hubbub.front.ws_handshake import (
    LIBRARY_LOG,
    check_handshake,
    plain_accept,
    switching_protocols,
)
from hubbub.http.answers import SERVER
from hubbub.http.head import Head, parse_head

DATE = b"Date: Mon, 07 Dec 2026 12:00:00 GMT\r\n"
KEY = "dGhlIHNhbXBsZSBub25jZQ=="


def head_of(lines: list[str]) -> Head:
    raw = "GET /ws?user=a HTTP/1.1\r\nHost: example.com\r\n" + "".join(
        f"{line}\r\n" for line in lines
    )
    head = parse_head((raw + "\r\n").encode("latin-1"))
    assert head is not None
    return head


def library_answer(head: Head, extra: bytes) -> bytes:
    """The 101 as the library alone makes it (what switching_protocols did before)."""
    headers = Headers()
    for name, value in head.headers.items():
        headers[name] = value
    response = ServerProtocol(logger=LIBRARY_LOG).accept(
        Request(head.url.decode("latin-1"), headers)
    )
    assert response.status_code == 101
    del response.headers["Date"]
    return b"".join((response.serialize()[:-2], DATE, SERVER, extra, b"\r\n"))


ORDINARY = [
    ["Upgrade: websocket", "Connection: Upgrade", f"Sec-WebSocket-Key: {KEY}"],
    ["Upgrade: WebSocket", "Connection: keep-alive, Upgrade", f"Sec-WebSocket-Key: {KEY}"],
    [
        "Upgrade: websocket",
        "Connection: upgrade",
        "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==",
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits",
        "Origin: http://example.com",
    ],
]


@pytest.mark.parametrize("lines", ORDINARY)
@pytest.mark.parametrize("extra", [b"", b"Access-Control-Allow-Origin: *\r\n"])
def test_an_ordinary_handshake_is_answered_as_the_library_answers_it(
    lines: list[str], extra: bytes
) -> None:
    head = head_of([*lines, "Sec-WebSocket-Version: 13"])
    assert plain_accept(head) is not None  # hubbub's own answer
    assert switching_protocols(head, DATE, extra) == library_answer(head, extra)


@pytest.mark.parametrize(
    "lines",
    [
        # Offered subprotocols, Upgrade lists, token syntax the regex does not take,
        # keys the strict decoder refuses or of another length: the library's to judge.
        ["Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Protocol: chat"],
        ["Upgrade: websocket, h2c", "Connection: Upgrade"],
        ["Upgrade: websocket", 'Connection: "Upgrade"'],
        ["Upgrade: websocket", "Connection: keep-alive"],
    ],
)
def test_anything_else_goes_to_the_library(lines: list[str]) -> None:
    head = head_of([*lines, f"Sec-WebSocket-Key: {KEY}", "Sec-WebSocket-Version: 13"])
    assert plain_accept(head) is None


@pytest.mark.parametrize("key", ["dGhlIHNhbXBsZSBub25jZQ", "dGhlIHNhbXBsZSBub25j ZQ==", "AAAA"])
def test_a_key_the_strict_decoder_refuses_goes_to_the_library(key: str) -> None:
    head = head_of(
        [
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
        ]
    )
    assert plain_accept(head) is None


def test_a_refusal_of_the_library_is_still_a_400_with_its_reason() -> None:
    head = head_of(
        [
            "Upgrade: websocket, h2c",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {KEY}",
            "Sec-WebSocket-Version: 13",
        ]
    )
    with pytest.raises(InvalidRequest, match=r"websocket handshake: .*Upgrade"):
        switching_protocols(head, DATE, b"")


@pytest.mark.parametrize(
    "lines",
    [
        *ORDINARY,
        ["Upgrade: websocket", "Connection: Upgrade", f"Sec-WebSocket-Key: {KEY}"],
        ["Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Protocol: chat"],
        ["Upgrade: websocket, h2c", "Connection: Upgrade", f"Sec-WebSocket-Key: {KEY}"],
        ["Upgrade: websocket", 'Connection: "Upgrade"', f"Sec-WebSocket-Key: {KEY}"],
        ["Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ"],
        ["Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Key: AAAA"],
        ["Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Key: é"],
        ["Upgrade: websocket", "Connection: Upgrade"],
    ],
)
def test_the_checks_give_the_plain_accept_or_the_refusal_they_gave_apart(
    lines: list[str],
) -> None:
    """check_handshake reads the headers once and returns plain_accept's value: for
    every request it takes, the same value; for one it refuses, the same refusal as the
    checks made before they were joined (a key that is not 16 bytes of base64)."""
    head = head_of([*lines, "Sec-WebSocket-Version: 13"])
    key = head.headers.get("sec-websocket-key") or ""
    try:
        lenient_ok = key.isascii() and len(base64.b64decode(key)) == 16
    except binascii.Error:
        lenient_ok = False
    if not head.upgrade:  # llhttp did not take "Connection: upgrade": refused first
        with pytest.raises(InvalidRequest, match="websocket handshake: No CONNECTION"):
            check_handshake(head, "127.0.0.1", None)
        return
    if not lenient_ok:
        with pytest.raises(InvalidRequest, match="websocket handshake: Handshake error"):
            check_handshake(head, "127.0.0.1", None)
        return
    assert check_handshake(head, "127.0.0.1", None) == plain_accept(head)
