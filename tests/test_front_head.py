"""The lean path's pure parts: request heads (llhttp), routes, queries and answer bytes."""

from __future__ import annotations

from email.utils import parsedate_to_datetime

import orjson
import pytest

from hubbub.errors import (
    BodyTooLarge,
    Forbidden,
    InvalidJSON,
    InvalidRequest,
    ProtocolError,
    RateLimited,
    RequestTimeout,
    TooManyConnections,
    Unauthorized,
)
from hubbub.front.answers import (
    DateHeader,
    answer,
    error_answer,
    error_headers,
    origin_headers,
)
from hubbub.front.head import (
    EVENTS,
    PUBLISH,
    READ,
    WEBSOCKET,
    WS_DIALECT,
    WS_ECHO,
    WS_MULTIPLEX,
    Head,
    parse_head,
    parse_query,
    route_of,
)

MESSAGES = "/rooms/r/messages"


def head_of(
    target: str = MESSAGES, *headers: str, method: str = "GET", version: str = "1.1"
) -> bytes:
    """A request head with ``Host`` and the given header lines, through its blank line."""
    lines = [f"{method} {target} HTTP/{version}", "Host: x", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def parsed(data: bytes) -> Head:
    head = parse_head(data)
    assert head is not None
    return head


def split(data: bytes) -> tuple[bytes, dict[str, str], bytes]:
    """An answer's status line, its headers by lower-cased name, and its body."""
    top, _, body = data.partition(b"\r\n\r\n")
    status, *lines = top.decode("latin-1").split("\r\n")
    headers: dict[str, str] = {}
    for line in lines:
        name, _, value = line.partition(":")
        assert name.lower() not in headers, f"{name} twice"
        headers[name.lower()] = value.strip()
    return status.encode(), headers, body


# parse_head


def test_parse_head_reports_method_target_and_headers() -> None:
    """Method, raw target and headers (names lower-cased, values trimmed) are reported."""
    head = parsed(head_of(MESSAGES + "?since=3", "X-Thing:   spaced  ", method="POST"))
    assert head.method == "POST"
    assert head.url == b"/rooms/r/messages?since=3"
    assert head.headers == {"host": "x", "x-thing": "spaced"}
    assert not head.repeated and not head.upgrade and head.keep_alive


def test_headers_get_takes_any_case() -> None:
    """``Headers.get`` finds a header by any spelling of its name, as aiohttp's do."""
    head = parsed(head_of(MESSAGES, "Authorization: Bearer t"))
    assert head.headers.get("AUTHORIZATION") == "Bearer t"
    assert head.headers.get("authorization") == "Bearer t"
    assert head.headers.get("Missing") is None
    assert head.headers.get("Missing", "d") == "d"


def test_repeated_header_is_flagged() -> None:
    """A header name sent twice, in any case, marks the head as repeated."""
    assert parsed(head_of(MESSAGES, "X-A: 1", "x-a: 2")).repeated
    assert not parsed(head_of(MESSAGES, "X-A: 1", "X-B: 2")).repeated


@pytest.mark.parametrize(
    "data",
    [
        b"GET /rooms/r/messages HTTP/1.1\r\nHost: x\r\n",  # no blank line yet
        b"GET /rooms/r/messages HTTP/1.0\r\nHost: x\r\n\r\n",  # HTTP/1.0
        b"get /rooms/r/messages HTTP/1.1\r\nHost: x\r\n\r\n",  # method case
        b"GET /rooms/r/messages HTTP/1.1\r\nHost : x\r\n\r\n",  # space before colon
        b"GET /rooms/r/messages HTTP/1.1\r\nX: a\x00b\r\n\r\n",  # NUL in a value
        b"GET /rooms/r/messages HTTP/1.1\r\nX-A: b\r\n c\r\n\r\n",  # obsolete line folding
        b"POST /rooms/r/messages HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        b"POST /rooms/r/messages HTTP/1.1\r\nContent-Length: +2\r\n\r\n",
        b"NOT HTTP AT ALL\r\n\r\n",
    ],
)
def test_heads_llhttp_refuses_or_not_http11_are_none(data: bytes) -> None:
    """Incomplete, malformed or HTTP/1.0 heads are not parsed (aiohttp answers them)."""
    assert parse_head(data) is None


def test_keep_alive_of_a_post() -> None:
    """``Connection: close`` on a request with a body ends keep-alive."""
    body_head = ("Content-Length: 2", "Content-Type: application/json")
    assert parsed(head_of(MESSAGES, *body_head, method="POST")).keep_alive
    closing = parsed(head_of(MESSAGES, *body_head, "Connection: close", method="POST"))
    assert not closing.keep_alive


def test_keep_alive_of_a_get_with_connection_close() -> None:
    """``Connection: close`` on a GET (no body) ends keep-alive too."""
    assert not parsed(head_of(MESSAGES, "Connection: close")).keep_alive


def test_websocket_upgrade_is_flagged() -> None:
    """A GET with ``Connection: Upgrade`` is reported as an upgrade, not refused."""
    head = parsed(
        head_of(
            MESSAGES,
            "Upgrade: websocket",
            "Connection: Upgrade",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Version: 13",
        )
    )
    assert head.upgrade and head.method == "GET"


# route_of


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (head_of(MESSAGES), READ),
        (head_of(MESSAGES + "?since=1&wait=5"), READ),
        (head_of(MESSAGES, "Accept: text/event-stream"), EVENTS),
        (head_of(MESSAGES, "Accept: text/html, text/event-stream;q=0.9"), EVENTS),
        (head_of(MESSAGES, "Upgrade: websocket", "Connection: Upgrade"), WEBSOCKET),
        (head_of(MESSAGES, "Upgrade: WebSocket", "Connection: Upgrade"), WEBSOCKET),
        (head_of(MESSAGES, "Content-Length: 5", method="POST"), PUBLISH),
        (head_of(MESSAGES, "Content-Length: 0", "Connection: close", method="POST"), PUBLISH),
    ],
)
def test_routes_the_lean_path_serves(data: bytes, kind: str) -> None:
    """Polls, publishes, SSE and WebSocket requests of a room's messages get their kind."""
    route = route_of(parsed(data))
    assert route is not None
    assert (route.kind, route.room) == (kind, "r")


def test_route_carries_room_and_query() -> None:
    """The room is the path segment; the query is split into its fields."""
    route = route_of(parsed(head_of("/rooms/a-b_c.d/messages?since=4&epoch=abc&wait=")))
    assert route is not None
    assert route.room == "a-b_c.d"
    assert route.query == {"since": "4", "epoch": "abc", "wait": ""}


UPGRADE = ("Upgrade: websocket", "Connection: Upgrade")


@pytest.mark.parametrize(
    ("target", "kind", "room", "query"),
    [
        ("/ws?user=u", WS_MULTIPLEX, "", {"user": "u"}),
        ("/messages?token=t", WS_DIALECT, "", {"token": "t"}),
        ("/ws-echo", WS_ECHO, "", {}),
        (
            "/rooms/a%2Db/messages?user=a+b&user=c&since=%31",
            WEBSOCKET,
            "a-b",
            {"user": "a b", "since": "1"},
        ),
    ],
)
def test_every_websocket_upgrade_has_a_route(
    target: str, kind: str, room: str, query: dict[str, str]
) -> None:
    """Only the front upgrades: every WebSocket route is one of its kinds, escapes in an
    upgrade's path and query decoded as aiohttp decodes them (the first value wins)."""
    route = route_of(parsed(head_of(target, *UPGRADE)))
    assert route is not None
    assert (route.kind, route.room, route.query) == (kind, room, query)


@pytest.mark.parametrize("target", ["/ws", "/messages", "/ws-echo"])
def test_websocket_paths_without_an_upgrade_are_aiohttps(target: str) -> None:
    assert route_of(parsed(head_of(target))) is None
    assert route_of(parsed(head_of(target, *UPGRADE, method="HEAD"))) is None


@pytest.mark.parametrize(
    "data",
    [
        head_of("/rooms"),
        head_of("/healthz"),
        head_of("/rooms/r/messages/"),
        head_of("/rooms//messages"),
        head_of("/rooms/a/b/messages"),
        head_of("//rooms/r/messages"),
        head_of("http://x/rooms/r/messages"),
        head_of("/rooms/r%20s/messages"),
        head_of(MESSAGES + "?user=a%20b"),
        head_of(MESSAGES + "?user=a+b"),
        head_of(MESSAGES + "#frag"),
        head_of(MESSAGES, method="PUT"),
        head_of(MESSAGES, method="DELETE"),
        head_of(MESSAGES, method="OPTIONS"),
        head_of(MESSAGES, method="HEAD"),
        head_of(MESSAGES, "X-A: 1", "X-A: 2"),
        head_of(MESSAGES, "Transfer-Encoding: chunked", method="POST"),
        head_of(MESSAGES, "Content-Length: 2", "Expect: 100-continue", method="POST"),
        head_of(MESSAGES, "Content-Length: 2", "Content-Encoding: gzip", method="POST"),
        head_of(MESSAGES, method="POST"),  # no Content-Length
        head_of(MESSAGES, "Content-Length: 2", "Upgrade: h2c", method="POST"),
        head_of(MESSAGES, "Upgrade: h2c", "Connection: Upgrade"),
        head_of(MESSAGES, "Upgrade: h2c"),
        head_of(MESSAGES, "Expect: 100-continue"),
    ],
)
def test_requests_handed_to_aiohttp(data: bytes) -> None:
    """Other routes and methods, escapes, repeated headers, chunked, encoded or ``Expect``
    bodies and non-WebSocket upgrades have no lean route."""
    assert route_of(parsed(data)) is None


def test_non_ascii_target_is_handed_to_aiohttp() -> None:
    """A raw non-ASCII byte in the target has no lean route (if llhttp lets it through)."""
    head = parse_head("GET /rooms/é/messages HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert head is None or route_of(head) is None


# parse_query


@pytest.mark.parametrize(
    ("query", "fields"),
    [
        ("", {}),
        ("since=1", {"since": "1"}),
        ("since=1&limit=2", {"since": "1", "limit": "2"}),
        ("since=1&since=2", {"since": "1"}),  # the first wins, as aiohttp's get
        ("&&since=1&", {"since": "1"}),
        ("wait", {"wait": ""}),
        ("=1", {"": "1"}),
        ("a=b=c", {"a": "b=c"}),
    ],
)
def test_parse_query(query: str, fields: dict[str, str]) -> None:
    """Fields split on ``&`` and the first ``=``; empty parts skipped; first value wins."""
    assert parse_query(query) == fields


# answers


def test_answer_bytes() -> None:
    """Status line, JSON type, exact Content-Length, the date line, then the body."""
    date = b"Date: Thu, 01 Jan 1970 00:00:00 GMT\r\n"
    data = answer(201, b'{"id":1}', date)
    status, headers, body = split(data)
    assert status == b"HTTP/1.1 201 Created"
    assert headers == {
        "content-type": "application/json",
        "content-length": "8",
        "date": "Thu, 01 Jan 1970 00:00:00 GMT",
        "server": "hubbub",
    }
    assert body == b'{"id":1}'


def test_answer_options() -> None:
    """``no_store``, ``close`` and extra header lines each add their header."""
    data = answer(200, b"{}", b"", no_store=True, close=True, extra=b"X-A: 1\r\n")
    status, headers, body = split(data)
    assert status == b"HTTP/1.1 200 OK"
    assert headers["cache-control"] == "no-store"
    assert headers["connection"] == "close"
    assert headers["x-a"] == "1"
    assert headers["content-length"] == "2" and body == b"{}"


def test_date_header_is_an_http_date_made_once_a_second() -> None:
    """The same bytes object within a second; a new line the next second."""
    date = DateHeader()
    first = date.at(1_000_000.2)
    assert date.at(1_000_000.9) is first
    assert first.startswith(b"Date: ") and first.endswith(b" GMT\r\n")
    when = parsedate_to_datetime(first[6:-2].decode())
    assert when.timestamp() == 1_000_000
    assert parsedate_to_datetime(date.at(1_000_001.0)[6:-2].decode()).timestamp() == 1_000_001


def test_origin_headers() -> None:
    """No header without an allowed origin; ``Vary: Origin`` unless the origin is ``*``."""
    assert origin_headers(None) == b""
    assert origin_headers("*") == b"Access-Control-Allow-Origin: *\r\n"
    assert origin_headers("https://a.example") == (
        b"Access-Control-Allow-Origin: https://a.example\r\nVary: Origin\r\n"
    )


def test_error_headers_challenge_and_retry_after() -> None:
    """A 401 names the Bearer scheme (and invalid_token once one was sent); a 429 says
    when to retry, in whole seconds rounded up."""
    no_token, close = error_headers(Unauthorized("no"), token_sent=False)
    assert no_token == b'WWW-Authenticate: Bearer realm="hubbub"\r\n' and not close
    refused, _ = error_headers(Unauthorized("bad"), token_sent=True)
    assert refused == b'WWW-Authenticate: Bearer realm="hubbub", error="invalid_token"\r\n'
    limited, close = error_headers(RateLimited("slow down", 0.2), token_sent=False)
    assert limited == b"Retry-After: 1\r\n" and not close
    assert error_headers(Forbidden("no"), token_sent=True) == (b"", False)


@pytest.mark.parametrize(
    ("error", "closes"),
    [
        (BodyTooLarge("big"), True),
        (RequestTimeout("slow"), True),
        (TooManyConnections("full"), True),
        (InvalidRequest("bad"), True),
        (InvalidJSON("bad"), False),
        (Forbidden("no"), False),
    ],
)
def test_error_answer_closes_only_an_unreadable_rest(error: ProtocolError, closes: bool) -> None:
    """Errors that leave the rest of the request unread close the connection; others not."""
    data, close = error_answer(error, b"", token_sent=False, close=False, cors=b"")
    status, headers, body = split(data)
    assert close is closes
    assert ("connection" in headers) is closes
    assert status.startswith(b"HTTP/1.1 %d " % error.status)
    assert orjson.loads(body)["error"]["code"] == error.code


def test_error_answer_keeps_close_and_adds_cors() -> None:
    """A close asked by the request stays; the CORS lines are added to the error."""
    cors = origin_headers("https://a.example")
    data, close = error_answer(
        Unauthorized("no token"), b"", token_sent=False, close=True, cors=cors
    )
    status, headers, body = split(data)
    assert close and headers["connection"] == "close"
    assert status == b"HTTP/1.1 401 Unauthorized"
    assert headers["access-control-allow-origin"] == "https://a.example"
    assert headers["vary"] == "Origin"
    assert headers["www-authenticate"] == 'Bearer realm="hubbub"'
    assert orjson.loads(body) == {"error": {"code": "unauthorized", "message": "no token"}}
