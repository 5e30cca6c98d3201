"""A request, parsed by llhttp (``httptools``): its head here, its body by ``body.py``.

The connection (``http/connection.py``) frames requests itself: a head ends at the
first blank line and is checked by llhttp (request line, header syntax, conflicting
lengths, obs-fold, bare CR); a body is ``Content-Length`` bytes, or chunks that llhttp
decodes (``body.py``). The :class:`Request` is what every route reads.

Pure: no sockets, no event loop.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, unquote

import httptools

from hubbub.errors import InvalidRequest, ProtocolError
from hubbub.http.refusals import transfer_coding_error

# A head longer than this is refused with 431 (aiohttp's line limit was 8190 bytes).
MAX_HEAD = 8190
# What a Host value may not hold: anything outside RFC 3986's host and port characters.
_NOT_IN_A_HOST = re.compile(r"[^A-Za-z0-9\-._~%!$&'()*+,;=:\[\]]")
EVENT_STREAM = "text/event-stream"
# An absolute-form target: scheme, then a non-empty authority, then the path and query.
_ABSOLUTE_FORM = re.compile(r"(?i:https?)://([^/?#]+)(.*)", re.DOTALL)


class Headers(dict[str, str]):
    """Header values by lower-cased name; ``get`` takes any case (``in`` wants the
    lower-cased name). A name sent twice keeps its values joined by ``, `` (RFC 9110
    section 5.3)."""

    __slots__ = ()

    def get(self, name: str, default: str | None = None) -> str | None:  # type: ignore[override]
        value = dict.get(self, name)
        if value is None and not name.islower():
            value = dict.get(self, name.lower())
        return default if value is None else value


class Request:
    """One request: what llhttp reported of its head, then its body and route.

    ``address`` is the client's (behind a trusted proxy, the one it names), ``peer``
    the socket's; ``params`` the route's path parameters; ``app`` what the server was
    built with (``app.py``), for the routes to reach the node.
    """

    __slots__ = (
        "_body",
        "_body_refusal",
        "address",
        "app",
        "body_refused",
        "complete",
        "headers",
        "keep_alive",
        "method",
        "params",
        "parser",
        "path",
        "peer",
        "principal",
        "query",
        "raw_path",
        "raw_query",
        "repeated",
        "started",
        "upgrade",
        "url",
        "version",
    )

    def __init__(self) -> None:
        self.url = b""
        self.headers = Headers()
        self.repeated = False  # some header name came twice
        self.complete = False
        self.method = ""
        self.version = "1.1"
        self.keep_alive = True
        self.upgrade = False
        self.parser: httptools.HttpRequestParser | None = None
        self.path = ""
        self.raw_path = ""
        self.raw_query = ""
        self.query: dict[str, str] = {}
        self._body = b""
        self._body_refusal: ProtocolError | None = None
        self.body_refused = False  # the body was not read: asking for it is refused
        self.params: dict[str, str] = {}
        self.address = "unknown"
        self.peer = "unknown"
        self.app: Any = None
        self.principal: Any = None  # who sent it, once a route asked (transports/http.py)
        self.started = 0.0  # time.monotonic() at its head, for the access log

    # llhttp's callbacks (httptools calls them by name)
    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1").strip()
        headers = self.headers
        if key in headers:
            self.repeated = True
            text = f"{headers[key]}, {text}"
        headers[key] = text

    def on_headers_complete(self) -> None:
        self.complete = True
        # Asked now: once a message without a body is complete, llhttp resets its flags.
        if self.parser is not None:
            self.keep_alive = self.parser.should_keep_alive()

    # What routes read

    @property
    def body(self) -> bytes:
        """The body, decoded; a body that was not read (over ``max_body``) raises its
        refusal here, so a route's own checks (the token first) come before it."""
        if self._body_refusal is not None:
            raise self._body_refusal
        return self._body

    @body.setter
    def body(self, data: bytes) -> None:
        self._body = data

    def refuse_body(self, refusal: ProtocolError) -> None:
        """The body is not read: asking for it raises ``refusal``."""
        self._body_refusal = refusal
        self.body_refused = True

    @property
    def target(self) -> str:
        return self.url.decode("latin-1")

    @property
    def content_type(self) -> str:
        """The media type alone, lower-cased (``application/json``), or ``""``."""
        raw = self.headers.get("content-type") or ""
        return raw.partition(";")[0].strip().lower()

    @property
    def remote(self) -> str:
        """The socket's peer address (a proxy's, behind one)."""
        return self.peer


# The name the stream modules know it by: what they read is the head.
Head = Request


def parse_head(data: bytes) -> Request:
    """The request head in ``data`` (through its blank line); ``InvalidRequest`` if
    llhttp refuses it, it is not HTTP/1.0 or 1.1, or its target is not a path."""
    head = Request()
    parser = head.parser = httptools.HttpRequestParser(head)
    try:
        parser.feed_data(data)
    except httptools.HttpParserUpgrade:
        head.upgrade = True
    except httptools.HttpParserError as error:
        raise InvalidRequest(f"malformed request: {_reason(error)}") from None
    if not head.complete:
        raise InvalidRequest("malformed request: the head did not end")
    version = parser.get_http_version()
    if version not in ("1.1", "1.0"):
        raise InvalidRequest(f"malformed request: unsupported HTTP version {version}")
    head.version = version
    head.method = parser.get_method().decode("ascii")
    head.parser = None
    host = head.headers.get("host")
    if host is None:
        if version == "1.1":
            raise InvalidRequest("malformed request: no Host header (RFC 9112 section 3.2)")
    elif host and _NOT_IN_A_HOST.search(host) is not None:
        # Two Host lines are joined with ", ": the space gives them away too.
        raise InvalidRequest(
            "malformed request: more than one Host, or one that names no host"
            " (RFC 9112 section 3.2)"
        )
    split_target(head)
    return head


def split_target(head: Request) -> None:
    """The path (escapes decoded) and the query (``a=1&b=2``; escapes and ``+`` decoded;
    the first of a repeated name wins)."""
    try:
        target = head.url.decode("ascii")
    except UnicodeDecodeError:
        raise InvalidRequest("malformed request: a target must be ASCII") from None
    if not target.startswith("/"):
        target = _origin_of_absolute(head, target)
    path, _, query = target.partition("?")
    path = path.partition("#")[0]
    query = query.partition("#")[0]
    head.raw_path = path
    head.path = unquote(path, errors="replace") if "%" in path else path
    head.raw_query = query
    head.query = parse_query(query)


def _origin_of_absolute(head: Request, target: str) -> str:
    """An absolute-form target (``http://host:port/path?q``), which a server must accept
    (RFC 9112 section 3.2.2): its authority stands for the ``Host`` header, which is
    ignored, and the rest is the path and query. Any other form is refused."""
    match = _ABSOLUTE_FORM.match(target)
    if match is None:
        raise InvalidRequest(
            "malformed request: the target must be a path or an absolute http(s) URL"
        )
    authority, rest = match.group(1), match.group(2)
    if _NOT_IN_A_HOST.search(authority) is not None:
        raise InvalidRequest("malformed request: the target's authority names no host")
    head.headers["host"] = authority
    return rest if rest.startswith("/") else "/" + rest


def parse_query(query: str) -> dict[str, str]:
    """``a=1&b=2``: the first of a repeated name wins; ``%XX`` and ``+`` decoded."""
    fields: dict[str, str] = {}
    if not query:
        return fields
    if "%" in query or "+" in query:
        for name, value in parse_qsl(query, keep_blank_values=True, errors="replace"):
            fields.setdefault(name, value)
        return fields
    for part in query.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        fields.setdefault(name, value)
    return fields


def partial_head_error(data: bytes) -> InvalidRequest | None:
    """The refusal of a head that has not ended yet but can no longer become a request
    (junk, a bad request line or header): answered at once, not at the idle deadline."""
    try:
        httptools.HttpRequestParser(Request()).feed_data(data)
    except httptools.HttpParserUpgrade:
        return None
    except httptools.HttpParserError as error:
        return InvalidRequest(f"malformed request: {_reason(error)}")
    return None


def framing_error(head: Request) -> InvalidRequest | None:
    """A request whose body a proxy in front could frame differently than hubbub does
    (RFC 9112 sections 6.1 and 6.3): refused with ``400`` and the connection closed.
    llhttp already refuses ``Content-Length`` beside ``Transfer-Encoding``, two
    ``Content-Length`` headers, obs-fold and bare CR; what it lets through is a coding
    before ``chunked`` (``gzip, chunked``), which hubbub would otherwise ignore."""
    error = transfer_coding_error(head.headers.get("transfer-encoding"))
    if error is None and head.version == "1.0" and "transfer-encoding" in head.headers:
        # RFC 9112 section 6.1: chunked is HTTP/1.1's; a 1.0 message with it is faulty.
        error = InvalidRequest("malformed request: Transfer-Encoding in an HTTP/1.0 request")
    return error


def _reason(error: Exception) -> str:
    return str(error).strip() or type(error).__name__


def accepts_event_stream(accept: str | None) -> bool:
    """Whether an ``Accept`` value names ``text/event-stream`` (alone or among others,
    parameters aside): how a subscribe URL chooses SSE."""
    if not accept or EVENT_STREAM not in accept:
        return False
    return any(part.split(";")[0].strip() == EVENT_STREAM for part in accept.split(","))


def is_websocket_upgrade(head: Request) -> bool:
    return (head.headers.get("upgrade") or "").strip().lower() == "websocket"
