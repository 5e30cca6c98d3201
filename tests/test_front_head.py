"""The server stack's pure parts: request heads (llhttp), routes, queries, answer bytes."""

from __future__ import annotations

from email.utils import parsedate_to_datetime

import orjson
import pytest

from hubbub.errors import (
    BodyTooLarge,
    Forbidden,
    InvalidJSON,
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    ProtocolError,
    RateLimited,
    RequestTimeout,
    TooManyConnections,
    Unauthorized,
)
from hubbub.http.answers import Answer, DateHeader, header_lines
from hubbub.http.cors import origin_header_pairs
from hubbub.http.head import Head, parse_head, parse_query
from hubbub.http.refusals import error_answer
from hubbub.http.routes import Routes

MESSAGES = "/rooms/r/messages"


def head_of(
    target: str = MESSAGES, *headers: str, method: str = "GET", version: str = "1.1"
) -> bytes:
    """A request head with ``Host`` and the given header lines, through its blank line."""
    lines = [f"{method} {target} HTTP/{version}", "Host: x", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def parsed(data: bytes) -> Head:
    return parse_head(data)


def origin_headers(allowed: str | None) -> bytes:
    return header_lines(origin_header_pairs(allowed))


def error_headers(error: ProtocolError, token_sent: bool) -> tuple[bytes, bool]:
    refusal = error_answer(error, token_sent)
    return header_lines(refusal.headers), refusal.close


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


def test_repeated_header_is_flagged_and_joined() -> None:
    """A header name sent twice, in any case, marks the head as repeated; its values are
    kept joined (RFC 9110 section 5.3)."""
    twice = parsed(head_of(MESSAGES, "X-A: 1", "x-a: 2"))
    assert twice.repeated and twice.headers["x-a"] == "1, 2"
    assert not parsed(head_of(MESSAGES, "X-A: 1", "X-B: 2")).repeated


@pytest.mark.parametrize(
    ("target", "host", "path", "query"),
    [
        ("http://example.org/rooms/r/messages?since=3", "example.org", MESSAGES, {"since": "3"}),
        ("HTTPS://Example.org:8443/rooms/r/messages", "Example.org:8443", MESSAGES, {}),
        ("http://[::1]:80?since=1", "[::1]:80", "/", {"since": "1"}),
        ("http://x", "x", "/", {}),
    ],
)
def test_absolute_form_is_served_as_its_path(
    target: str, host: str, path: str, query: dict[str, str]
) -> None:
    """An absolute-form target is accepted (RFC 9112 section 3.2.2): the path and query
    are its own, and its authority stands for Host (the header's value is ignored)."""
    head = parsed(head_of(target))
    assert (head.path, head.query, head.headers["host"]) == (path, query, host)


@pytest.mark.parametrize(
    "data",
    [
        b"GET /rooms/r/messages HTTP/1.1\r\nHost: x\r\n",  # no blank line yet
        b"GET /rooms/r/messages HTTP/1.1\r\n\r\n",  # HTTP/1.1 without Host
        b"GET ftp://x/rooms/r/messages HTTP/1.1\r\nHost: x\r\n\r\n",  # not a path
        b"GET http:///rooms/r/messages HTTP/1.1\r\nHost: x\r\n\r\n",  # no authority
        b"GET http://u@x/rooms HTTP/1.1\r\nHost: x\r\n\r\n",  # userinfo
        b"get /rooms/r/messages HTTP/1.1\r\nHost: x\r\n\r\n",  # method case
        b"GET /rooms/r/messages HTTP/1.1\r\nHost : x\r\n\r\n",  # space before colon
        b"GET /rooms/r/messages HTTP/1.1\r\nX: a\x00b\r\n\r\n",  # NUL in a value
        b"GET /rooms/r/messages HTTP/1.1\r\nX-A: b\r\n c\r\n\r\n",  # obsolete line folding
        b"POST /rooms/r/messages HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        b"POST /rooms/r/messages HTTP/1.1\r\nContent-Length: +2\r\n\r\n",
        b"NOT HTTP AT ALL\r\n\r\n",
    ],
)
def test_heads_refused(data: bytes) -> None:
    """Incomplete or malformed heads, or targets that are not paths, are refused (400)."""
    with pytest.raises(InvalidRequest):
        parse_head(data)


def test_http10_is_served_and_closes_unless_kept_alive() -> None:
    """HTTP/1.0 needs no Host; its connection closes unless it asks to be kept alive."""
    old = parsed(b"GET /healthz HTTP/1.0\r\n\r\n")
    assert old.version == "1.0" and not old.keep_alive
    assert parsed(b"GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keep_alive


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


# Routes


def handler(request: Head) -> Answer:
    return Answer(200)


def table() -> Routes:
    routes = Routes()
    routes.add("GET", "/rooms/{room}/messages", handler, ordered=True)
    routes.add("POST", "/rooms/{room}/messages", handler, ordered=True)
    routes.add("DELETE", "/rooms/{room}/mutes/{user}", handler)
    routes.add("GET", "/ws", handler)
    return routes


def test_a_route_matches_with_its_parameters_decoded() -> None:
    """A ``{name}`` segment matches one whole segment, decoded after matching, so an
    escaped ``/`` stays inside it."""
    match = table().match("GET", "/rooms/a b/messages", "/rooms/a%20b/messages")
    assert match.params == {"room": "a b"} and match.route.ordered
    slash = table().match("GET", "/rooms/a/b/messages", "/rooms/a%2Fb/messages")
    assert slash.params == {"room": "a/b"}
    two = table().match("DELETE", "/rooms/r/mutes/u", "/rooms/r/mutes/u")
    assert two.params == {"room": "r", "user": "u"}
    assert table().match("HEAD", "/ws").route.method == "GET"  # HEAD is GET's


@pytest.mark.parametrize(
    "path", ["/rooms//messages", "/rooms/r/messages/", "/rooms/a/b/messages", "/nope", "/"]
)
def test_no_route_is_404(path: str) -> None:
    with pytest.raises(NotFound):
        table().match("GET", path)


def test_another_method_is_405_with_allow() -> None:
    with pytest.raises(MethodNotAllowed) as refused:
        table().match("PUT", "/rooms/r/messages")
    assert refused.value.allow == "GET, HEAD, POST"
    headers, _ = error_headers(refused.value, token_sent=False)
    assert headers == b"Allow: GET, HEAD, POST\r\n"


def test_a_fallback_takes_what_no_route_has() -> None:
    routes = table()
    routes.fallback(handler)
    assert routes.match("GET", "/anything/else").route.handler is handler
    with pytest.raises(MethodNotAllowed):
        routes.match("PUT", "/ws")  # a known path keeps its 405


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
        ("user=a+b&since=%31", {"user": "a b", "since": "1"}),
        ("user=%C3%A9&user=x", {"user": "é"}),
    ],
)
def test_parse_query(query: str, fields: dict[str, str]) -> None:
    """Fields split on ``&`` and the first ``=``; empty parts skipped; first value wins;
    escapes and ``+`` decoded."""
    assert parse_query(query) == fields


# answers


def test_answer_bytes() -> None:
    """Status line, JSON type, exact Content-Length, the date line, then the body."""
    date = b"Date: Thu, 01 Jan 1970 00:00:00 GMT\r\n"
    data = Answer(201, b'{"id":1}').render(date, close=False)
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
    """``no_store``, ``close`` and more header lines each add their header."""
    data = Answer(200, b"{}", no_store=True, headers=[("X-A", "1")]).render(b"", close=True)
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
    refusal = error_answer(error, token_sent=False)
    status, headers, body = split(refusal.render(b"", close=refusal.close))
    assert refusal.close is closes
    assert ("connection" in headers) is closes
    assert status.startswith(b"HTTP/1.1 %d " % error.status)
    assert orjson.loads(body)["error"]["code"] == error.code


def test_answer_render_head_and_no_body_statuses() -> None:
    """``HEAD`` keeps the length a ``GET`` would have and drops the body; 204 and 304
    have neither length nor type."""
    status, headers, body = split(Answer(200, b"{}").render(b"", close=False, head_only=True))
    assert headers["content-length"] == "2" and body == b""
    status, headers, body = split(Answer(204).render(b"", close=False))
    assert status == b"HTTP/1.1 204 No Content"
    assert "content-length" not in headers and "content-type" not in headers and body == b""
