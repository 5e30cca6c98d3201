"""The lean HTTP path: one slotted protocol object per connection, no per-request objects.

Every accepted socket starts here. Polls (short and long) and publishes of
``/rooms/{room}/messages`` are served directly: the head is checked by llhttp, the
answer written as prebuilt bytes. The first request that is anything else (another
route, SSE, a WebSocket upgrade, a chunked or encoded body, an over-limit body,
HTTP/1.0, a head llhttp refuses) hands the connection, bytes unread included, to
aiohttp's connection handler, which serves it from then on exactly as before. A
connection over a cap is handed over at once (aiohttp answers it ``503``).

Pipelining: every complete request in a read is taken in the same loop iteration,
so the publishes of one connection share one commit (aiohttp serves them one at a
time); answers go out in request order, those ready together in one write. At most
:data:`MAX_PIPELINE` requests wait for their answers; past that, or while the peer
does not read, the connection is not read.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from functools import partial
from typing import TYPE_CHECKING, cast

from hubbub.auth import token_from
from hubbub.errors import (
    InvalidParameter,
    ProtocolError,
    RequestTimeout,
    Unavailable,
    UnsupportedMediaType,
)
from hubbub.front.answers import answer, error_answer, origin_headers
from hubbub.front.head import MAX_HEAD, Head, Route, parse_head, route_of
from hubbub.protocol.cursors import parse_read_query
from hubbub.protocol.encoding import error_body
from hubbub.protocol.messages import (
    parse_json_object,
    validate_publish,
    validate_room,
    validate_user,
)
from hubbub.store.committer import Committed

if TYPE_CHECKING:
    from hubbub.front.context import FrontContext

log = logging.getLogger("hubbub")

MAX_PIPELINE = 64
JSON = "application/json"


class Pending:
    """A request waiting for its answer; ``data`` once it is ready."""

    __slots__ = ("close", "data")

    def __init__(self, close: bool) -> None:
        self.close = close
        self.data: bytes | None = None


class FrontConnection(asyncio.Protocol):
    """One client connection on the lean path (until it is handed to aiohttp)."""

    __slots__ = (
        "_address",
        "_body_deadline",
        "_buffer",
        "_ctx",
        "_ending",
        "_flush_soon",
        "_hand_off_due",
        "_idle_since",
        "_pending",
        "_reading",
        "_tasks",
        "_timer",
        "_transport",
        "_write_paused",
    )

    def __init__(self, ctx: FrontContext) -> None:
        self._ctx = ctx
        self._transport: asyncio.Transport | None = None
        self._address = "unknown"
        self._buffer = bytearray()
        self._pending: deque[Pending] = deque()
        self._tasks: set[asyncio.Task[None]] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._idle_since = 0.0
        self._body_deadline: float | None = None  # a head is in, its body is not
        self._ending = False  # no more requests are taken; closed once answered
        self._hand_off_due = False  # a request for aiohttp waits for earlier answers
        self._flush_soon = False
        self._reading = True
        self._write_paused = False

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio's; they have its methods.
        transport = cast(asyncio.Transport, transport)
        self._transport = transport
        peer = transport.get_extra_info("peername")
        address = str(peer[0]) if isinstance(peer, tuple) and peer else "unknown"
        ctx = self._ctx
        refusal = ctx.guard.admit(address)
        if refusal is not None:
            self._hand_off(address, refusal)
            return
        self._address = address
        ctx.connections.add(self)
        self._idle_since = ctx.loop.time()
        self._timer = ctx.loop.call_at(self._idle_since + ctx.idle_timeout, self._on_timer)
        if ctx.closing:
            self.begin_close()

    def data_received(self, data: bytes) -> None:
        if self._ending:
            return  # after "Connection: close", or at shutdown: nothing more is read
        self._buffer += data
        self._serve()

    def eof_received(self) -> bool:
        # As aiohttp does: a peer that stops sending is gone; the transport closes and
        # connection_lost cancels what it waits for (a long poll releases its waiter).
        return False

    def pause_writing(self) -> None:
        self._write_paused = True
        self._update_reading()

    def resume_writing(self) -> None:
        self._write_paused = False
        self._update_reading()
        self._serve()

    def connection_lost(self, exc: Exception | None) -> None:
        ctx = self._ctx
        if self in ctx.connections:
            ctx.connections.discard(self)
            ctx.guard.release(self._address)
            ctx.note_closed()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._pending.clear()
        self._buffer.clear()
        for task in self._tasks:
            task.cancel()  # a long poll whose client vanished releases its waiter now
        self._transport = None

    # Shutdown

    def begin_close(self) -> None:
        """The server stops: answer what was asked (long polls are woken), then close."""
        self._ending = True
        self._end_if_answered()

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    # Requests

    def _serve(self) -> None:
        """Take every complete request in the buffer (until a hand-off or a close)."""
        buffer = self._buffer
        ctx = self._ctx
        if self._hand_off_due:
            if not self._pending:
                self._hand_off(self._address, None)
            return
        while buffer and not self._ending and self._transport is not None:
            if len(self._pending) >= MAX_PIPELINE or self._write_paused:
                break
            end = buffer.find(b"\r\n\r\n", 0, MAX_HEAD + 4)
            if end < 0:
                if len(buffer) > MAX_HEAD:
                    self._hand_off_when_answered()
                break
            head_size = end + 4
            head = parse_head(bytes(buffer[:head_size]))
            route = route_of(head) if head is not None else None
            if head is None or route is None:
                self._hand_off_when_answered()
                break
            if route.method == "POST":
                length = _content_length(head)
                if length is None or length > ctx.settings.max_body:
                    self._hand_off_when_answered()  # aiohttp refuses it (400, 413)
                    break
                if len(buffer) < head_size + length:
                    self._wait_for_body()
                    break
                body = bytes(buffer[head_size : head_size + length])
                del buffer[: head_size + length]
                self._body_deadline = None
                self._publish(head, route, body)
            else:
                del buffer[:head_size]
                self._read(head, route)
        self._update_reading()

    def _take(self, head: Head) -> Pending:
        entry = Pending(close=not head.keep_alive)
        if entry.close:
            self._ending = True  # nothing after a "Connection: close" request is read
        self._pending.append(entry)
        return entry

    def _cors(self, head: Head) -> bytes:
        return origin_headers(self._ctx.allowed_origin(head.headers.get("origin")))

    def _publish(self, head: Head, route: Route, body: bytes) -> None:
        """The same checks, in the same order, as ``transports/publish.py``."""
        entry = self._take(head)
        node = self._ctx.node
        try:
            principal = node.principal(token_from(head.headers, route.query), self._address)
            room = validate_room(route.room)
            content_type = head.headers.get("content-type") or ""
            if content_type.partition(";")[0].strip().lower() != JSON:
                raise UnsupportedMediaType("publish with Content-Type: application/json")
            fields = parse_json_object(body)
            publish = validate_publish(
                room, fields, node.settings.max_text, user_required=node.user_required
            )
            future = node.submit(principal, publish)
        except ProtocolError as error:
            self._refuse(entry, head, route, error)
            return
        except Exception:
            self._crash(entry)
            return
        future.add_done_callback(partial(self._committed, entry, head, route))

    def _committed(
        self, entry: Pending, head: Head, route: Route, future: asyncio.Future[Committed]
    ) -> None:
        if future.cancelled():
            self._refuse(entry, head, route, _shutting_down())
            return
        error = future.exception()
        if isinstance(error, ProtocolError):
            self._refuse(entry, head, route, error)
        elif error is not None:
            self._crash(entry, error)
        else:
            committed = future.result()
            status = 201 if committed.created else 200
            entry.data = answer(
                status,
                committed.message.json,
                self._ctx.date(),
                close=entry.close,
                extra=self._cors(head),
            )
            self._answered()

    def _read(self, head: Head, route: Route) -> None:
        entry = self._take(head)
        task = self._ctx.loop.create_task(self._poll(entry, head, route))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _poll(self, entry: Pending, head: Head, route: Route) -> None:
        """The same checks, in the same order, as ``transports/rooms.py``."""
        node = self._ctx.node
        try:
            principal = node.principal(token_from(head.headers, route.query), self._address)
            room = validate_room(route.room)
            query = parse_read_query(route.query)
            user = None
            if query.wait is not None:
                user = node.presence_name(principal, _requested_user(route.query))
            body = await node.poll(principal, room, query, user)
        except ProtocolError as error:
            self._refuse(entry, head, route, error)
            return
        except Exception as error:
            self._crash(entry, error)
            return
        entry.data = answer(
            200, body, self._ctx.date(), no_store=True, close=entry.close, extra=self._cors(head)
        )
        self._answered()

    def _refuse(self, entry: Pending, head: Head, route: Route, error: ProtocolError) -> None:
        self._ctx.node.stats.rejected[error.code] += 1
        token_sent = token_from(head.headers, route.query) is not None
        entry.data, entry.close = error_answer(
            error, self._ctx.date(), token_sent=token_sent, close=entry.close, cors=self._cors(head)
        )
        if entry.close:
            self._ending = True
        self._answered()

    def _crash(self, entry: Pending, error: BaseException | None = None) -> None:
        log.error("hubbub: error handling a request", exc_info=error or True)
        body = error_body("internal_error", "the server failed to answer this request")
        entry.data = answer(500, body, self._ctx.date(), close=True)
        entry.close = self._ending = True
        self._answered()

    # Answers

    def _answered(self) -> None:
        """An answer is ready: written with the others ready in this loop iteration."""
        if not self._flush_soon:
            self._flush_soon = True
            self._ctx.loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_soon = False
        transport = self._transport
        pending = self._pending
        ready: list[bytes] = []
        close = False
        while pending and pending[0].data is not None:
            entry = pending.popleft()
            ready.append(entry.data)  # type: ignore[arg-type]
            if entry.close:
                close = True
                pending.clear()
                break
        if transport is None or not ready:
            return
        transport.write(ready[0] if len(ready) == 1 else b"".join(ready))
        if close:
            transport.close()
            return
        if not pending:
            self._idle_since = self._ctx.loop.time()
            self._end_if_answered()
            if self._transport is not None:
                self._serve()

    def _end_if_answered(self) -> None:
        """Once nothing is pending: close if ending, or hand off if a request waits for aiohttp."""
        if self._pending or self._transport is None:
            return
        if self._hand_off_due:
            self._hand_off(self._address, None)
        elif self._ending:
            self._transport.close()

    def _update_reading(self) -> None:
        transport = self._transport
        if transport is None:
            return
        reading = (
            len(self._pending) < MAX_PIPELINE
            and not self._write_paused
            and not self._hand_off_due
            and not self._ending
        )
        if reading != self._reading:
            self._reading = reading
            if reading:
                transport.resume_reading()
            else:
                transport.pause_reading()

    # Deadlines: one timer per connection, moved on only when it fires.

    def _wait_for_body(self) -> None:
        if self._body_deadline is not None:
            return
        ctx = self._ctx
        self._body_deadline = deadline = ctx.loop.time() + ctx.body_timeout
        if self._timer is None or self._timer.when() > deadline:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = ctx.loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        """A body past its deadline is a 408; a connection with no complete request head
        within ``idle_timeout`` of opening or of its last answer is closed (as aiohttp's
        keep-alive timer does)."""
        ctx = self._ctx
        self._timer = None
        transport = self._transport
        if transport is None:
            return
        now = ctx.loop.time()
        body_deadline = self._body_deadline
        if body_deadline is not None and now >= body_deadline:
            self._body_too_slow()
            return
        if self._pending:
            due = now + ctx.idle_timeout  # answers are owed: not idle
        else:
            due = self._idle_since + ctx.idle_timeout
            if body_deadline is None and now >= due:
                transport.close()
                return
        if body_deadline is not None:
            due = min(due, body_deadline)
        self._timer = ctx.loop.call_at(max(due, now + 0.001), self._on_timer)

    def _body_too_slow(self) -> None:
        """``408``, after the answers owed before it; nothing more is read."""
        deadline = self._ctx.body_timeout
        error = RequestTimeout(f"request body not received within {deadline:g} s")
        self._ctx.node.stats.rejected[error.code] += 1
        entry = Pending(close=True)
        entry.data, _ = error_answer(
            error, self._ctx.date(), token_sent=False, close=True, cors=b""
        )
        self._pending.append(entry)
        self._body_deadline = None
        self._ending = True
        self._buffer.clear()
        self._update_reading()
        self._answered()

    # Hand-off to aiohttp

    def _hand_off_when_answered(self) -> None:
        """The request at the buffer's start is aiohttp's: once the answers before it
        are out (``_flush`` calls ``_serve`` again), the connection goes over."""
        self._hand_off_due = True
        if not self._pending:
            self._hand_off(self._address, None)

    def _hand_off(self, address: str, refusal: str | None) -> None:
        transport = self._transport
        assert transport is not None
        ctx = self._ctx
        if self in ctx.connections:
            ctx.connections.discard(self)  # aiohttp's handler counts it from now on
            ctx.note_closed()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        handler = ctx.make_handler(address, refusal)
        transport.set_protocol(handler)
        handler.connection_made(transport)
        if self._write_paused:
            handler.pause_writing()
        if not self._reading:
            transport.resume_reading()
        data = bytes(self._buffer)
        self._buffer.clear()
        self._transport = None
        if data:
            handler.data_received(data)


def _content_length(head: Head) -> int | None:
    raw = head.headers.get("content-length") or ""
    return int(raw) if raw.isdigit() and len(raw) < 19 else None


def _requested_user(query: dict[str, str]) -> str | None:
    raw = query.get("user")
    if raw is None:
        return None
    try:
        return validate_user(raw)
    except ProtocolError as error:
        raise InvalidParameter(error.message) from error


def _shutting_down() -> ProtocolError:
    return Unavailable("the server is shutting down")
