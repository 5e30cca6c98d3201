"""A request head, parsed by llhttp (``httptools``), and whether the lean path serves it.

The front (``front/protocol.py``) frames requests itself: a head ends at the first
blank line, a body is ``Content-Length`` bytes. llhttp checks the head (request line,
header syntax, conflicting lengths) exactly as aiohttp's own parser would. Anything
the lean path does not serve in the ordinary way (another route, an upgrade, a chunked
or encoded body, ``Expect``, a repeated header, an escaped path or query, HTTP/1.0) is
handed to aiohttp untouched, so every unusual request keeps aiohttp's behaviour.

Pure: no sockets, no event loop.
"""

from __future__ import annotations

import httptools

from hubbub.errors import InvalidRequest
from hubbub.refusals import transfer_coding_error

# A head longer than this is aiohttp's to judge (its line limit is 8190 bytes).
MAX_HEAD = 8190
MESSAGES_PREFIX = "/rooms/"
MESSAGES_SUFFIX = "/messages"

# Headers that change how a request is read or answered beyond what the lean path
# does: their presence sends the request to aiohttp.
HANDED_OFF_HEADERS = frozenset({"transfer-encoding", "expect", "content-encoding"})
EVENT_STREAM = "text/event-stream"

# What a lean route is: the kinds the transport choice of docs/protocol.md makes.
READ, PUBLISH, WEBSOCKET, EVENTS = "read", "publish", "websocket", "events"
# The conformance echo (transports/ws_echo.py; only with Settings.ws_echo): a WebSocket
# upgrade of ECHO_PATH is a route of its own kind.
ECHO_PATH = "/ws-echo"
WS_ECHO = "ws-echo"


class Headers(dict[str, str]):
    """Header values by lower-cased name; ``get`` takes any case (as aiohttp's do)."""

    __slots__ = ()

    def get(self, name: str, default: str | None = None) -> str | None:  # type: ignore[override]
        return dict.get(self, name.lower(), default)


class Head:
    """One request head: what llhttp reported, collected by its callbacks."""

    __slots__ = (
        "complete",
        "headers",
        "keep_alive",
        "method",
        "parser",
        "repeated",
        "upgrade",
        "url",
    )

    def __init__(self) -> None:
        self.url = b""
        self.headers = Headers()
        self.repeated = False  # some header name came twice
        self.complete = False
        self.method = ""
        self.keep_alive = True
        self.upgrade = False
        self.parser: httptools.HttpRequestParser | None = None

    # llhttp's callbacks (httptools calls them by name)
    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        if key in self.headers:
            self.repeated = True
        self.headers[key] = value.decode("latin-1").strip()

    def on_headers_complete(self) -> None:
        self.complete = True
        # Asked now: once a message without a body is complete, llhttp resets its flags.
        if self.parser is not None:
            self.keep_alive = self.parser.should_keep_alive()


def parse_head(data: bytes) -> Head | None:
    """The head in ``data`` (through its blank line), or None if llhttp refuses it or
    it is not HTTP/1.1 (aiohttp then answers it as it always has)."""
    head = Head()
    parser = head.parser = httptools.HttpRequestParser(head)
    try:
        parser.feed_data(data)
    except httptools.HttpParserUpgrade:
        head.upgrade = True
    except httptools.HttpParserError:
        return None
    if not head.complete or parser.get_http_version() != "1.1":
        return None
    head.method = parser.get_method().decode("ascii")
    head.parser = None
    return head


def partial_head_error(data: bytes) -> InvalidRequest | None:
    """The refusal of a head that has not ended yet but can no longer become a request
    (junk, a bad request line or header): answered at once, not at the idle deadline."""
    try:
        httptools.HttpRequestParser(Head()).feed_data(data)
    except httptools.HttpParserUpgrade:
        return None
    except httptools.HttpParserError as error:
        return InvalidRequest(f"malformed request: {_reason(error)}")
    return None


def framing_error(head: Head) -> InvalidRequest | None:
    """A request whose body a proxy in front could frame differently than hubbub does
    (RFC 9112 sections 6.1 and 6.3): refused with ``400`` and the connection closed.
    llhttp already refuses ``Content-Length`` beside ``Transfer-Encoding``, two
    ``Content-Length`` headers, obs-fold and bare CR; what it lets through is a coding
    before ``chunked`` (``gzip, chunked``), which hubbub would otherwise ignore."""
    return transfer_coding_error(head.headers.get("transfer-encoding"))


def _reason(error: Exception) -> str:
    return str(error).strip() or type(error).__name__


class Route:
    """A request of ``room``'s messages the lean path may serve, and of which ``kind``:
    a poll (``READ``), a ``PUBLISH``, a ``WEBSOCKET`` upgrade or an SSE stream (``EVENTS``)."""

    __slots__ = ("kind", "query", "room")

    def __init__(self, kind: str, room: str, query: dict[str, str]) -> None:
        self.kind = kind
        self.room = room
        self.query = query


def route_of(head: Head) -> Route | None:
    """The lean route for ``head``, or None to hand the request to aiohttp."""
    if head.method not in ("GET", "POST") or head.repeated:
        return None
    headers = head.headers
    if "host" not in headers:
        return None  # HTTP/1.1 requires it: aiohttp answers 400 (RFC 9112 section 3.2)
    if not HANDED_OFF_HEADERS.isdisjoint(headers):
        return None
    kind = _kind(head)
    if kind is None:
        return None
    try:
        target = head.url.decode("ascii")
    except UnicodeDecodeError:
        return None
    path, _, query = target.partition("?")
    if "%" in target or "+" in query or "#" in target:
        return None  # escapes: decoded by aiohttp's rules, not a second copy of them
    if path == ECHO_PATH:
        return Route(WS_ECHO, "", {}) if kind == WEBSOCKET else None
    if not (path.startswith(MESSAGES_PREFIX) and path.endswith(MESSAGES_SUFFIX)):
        return None
    room = path[len(MESSAGES_PREFIX) : -len(MESSAGES_SUFFIX)]
    if not room or "/" in room:
        return None
    return Route(kind, room, parse_query(query))


def _kind(head: Head) -> str | None:
    """The transport the request chose (docs/protocol.md: an upgrade is a WebSocket,
    ``Accept: text/event-stream`` is SSE, else a poll), as ``transports/rooms.py`` does."""
    headers = head.headers
    upgrade = headers.get("upgrade")
    if head.method == "POST":
        if upgrade is not None or headers.get("content-length") is None:
            return None
        return PUBLISH
    if headers.get("content-length") not in (None, "0"):
        return None  # a GET with a body: aiohttp reads and drops it
    if upgrade is not None:
        return WEBSOCKET if upgrade.lower() == "websocket" else None
    if head.upgrade:
        return None
    if accepts_event_stream(headers.get("accept")):
        return EVENTS
    return READ


def accepts_event_stream(accept: str | None) -> bool:
    """Whether an ``Accept`` value names ``text/event-stream`` (alone or among others,
    parameters aside): both paths choose SSE by this one rule."""
    if not accept or EVENT_STREAM not in accept:
        return False
    return any(part.split(";")[0].strip() == EVENT_STREAM for part in accept.split(","))


def parse_query(query: str) -> dict[str, str]:
    """``a=1&b=2`` (no escapes; the first of a repeated name wins, as aiohttp's ``get``)."""
    fields: dict[str, str] = {}
    if not query:
        return fields
    for part in query.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        fields.setdefault(name, value)
    return fields
