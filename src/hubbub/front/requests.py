"""The requests the lean path serves: polls and publishes of ``/rooms/{room}/messages``.

Each takes the same checks, in the same order, as its aiohttp handler
(``transports/rooms.py``, ``transports/poll.py``, ``transports/publish.py``), so the
two paths answer alike; ``Requests`` is the part of :class:`FrontConnection` that
turns a request into its answer's bytes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from functools import partial
from typing import TYPE_CHECKING

from hubbub.access_log import log_answer
from hubbub.auth import token_from
from hubbub.errors import ProtocolError, TooManyConnections, Unavailable, UnsupportedMediaType
from hubbub.front.answers import answer, error_answer
from hubbub.front.head import Head, Route
from hubbub.protocol.cursors import parse_read_query
from hubbub.protocol.encoding import error_body
from hubbub.protocol.messages import (
    parse_json_object,
    validate_publish,
    validate_room,
)
from hubbub.store.committer import Committed
from hubbub.transports.chat import requested_user_in

if TYPE_CHECKING:
    from hubbub.front.context import FrontContext

log = logging.getLogger("hubbub")

JSON = "application/json"


class Pending:
    """A request waiting for its answer; ``data`` once it is ready."""

    __slots__ = ("access", "close", "data", "publish")

    def __init__(self, close: bool, publish: bool = False) -> None:
        self.close = close
        self.publish = publish  # a read after it waits for its commit
        self.data: bytes | None = None
        # With an access log: (time.monotonic() at its head, address, method, target)
        self.access: tuple[float, str, str, str] | None = None


class Requests:
    """Serving one request: its answer goes in its :class:`Pending`, then ``_answered``."""

    __slots__ = ()

    _ctx: FrontContext
    _address: str
    _pending: deque[Pending]
    _tasks: set[asyncio.Task[None]]

    def _answered(self) -> None:
        raise NotImplementedError

    def _stop_taking(self) -> None:
        """No request after this one is read (it closes the connection)."""
        raise NotImplementedError

    def _take(self, head: Head, *, publish: bool = False) -> Pending:
        entry = Pending(close=not head.keep_alive, publish=publish)
        if self._ctx.access_log is not None:
            target = head.url.decode("latin-1")
            entry.access = (time.monotonic(), self._address, head.method, target)
        if entry.close:
            self._stop_taking()
        self._pending.append(entry)
        return entry

    def _refuse_over_cap(self, head: Head, client: str, refusal: str) -> None:
        """``client`` (named by a trusted proxy) is at its per-address cap: ``503``, and
        the connection closed after it."""
        entry = self._take(head)
        entry.close = True
        if entry.access is not None:  # logged under the client refused, not the proxy
            entry.access = (entry.access[0], client, *entry.access[2:])
        self._stop_taking()
        # Counted in connections_refused by the guard, as aiohttp's refusal_middleware.
        error = TooManyConnections(f"too many connections ({refusal}); try again later")
        entry.data, _ = error_answer(
            error, self._ctx.date(), token_sent=False, close=True, cors=self._ctx.cors(head)
        )
        self._answered()

    def _publish(self, head: Head, route: Route, body: bytes) -> None:
        entry = self._take(head, publish=True)
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
                extra=self._ctx.cors(head),
            )
            self._answered()

    def _read(self, head: Head, route: Route) -> None:
        entry = self._take(head)
        task = self._ctx.loop.create_task(self._poll(entry, head, route))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _poll(self, entry: Pending, head: Head, route: Route) -> None:
        node = self._ctx.node
        try:
            principal = node.principal(token_from(head.headers, route.query), self._address)
            room = validate_room(route.room)
            query = parse_read_query(route.query)
            user = None
            if query.wait is not None:
                user = node.presence_name(principal, requested_user_in(route.query))
            body = await node.poll(principal, room, query, user)
        except ProtocolError as error:
            self._refuse(entry, head, route, error)
            return
        except Exception as error:
            self._crash(entry, error)
            return
        entry.data = answer(
            200,
            body,
            self._ctx.date(),
            no_store=True,
            close=entry.close,
            extra=self._ctx.cors(head),
        )
        self._answered()

    def _refuse(self, entry: Pending, head: Head, route: Route, error: ProtocolError) -> None:
        self._ctx.node.stats.rejected[error.code] += 1
        token_sent = token_from(head.headers, route.query) is not None
        entry.data, entry.close = error_answer(
            error,
            self._ctx.date(),
            token_sent=token_sent,
            close=entry.close,
            cors=self._ctx.cors(head),
        )
        if entry.close:
            self._stop_taking()
        self._answered()

    def _crash(self, entry: Pending, error: BaseException | None = None) -> None:
        log.error("hubbub: error handling a request", exc_info=error or True)
        body = error_body("internal_error", "the server failed to answer this request")
        entry.data = answer(500, body, self._ctx.date(), close=True)
        entry.close = True
        self._stop_taking()
        self._answered()


def log_access(ctx: FrontContext, entry: Pending) -> None:
    """The access log's line for a lean answer, as it goes out (``access_log.py``)."""
    assert ctx.access_log is not None and entry.access is not None and entry.data is not None
    started, address, method, target = entry.access
    status = int(entry.data[9:12])  # "HTTP/1.1 201 ..."
    log_answer(ctx.access_log, address, method, target, status, started, len(entry.data))


def _shutting_down() -> ProtocolError:
    return Unavailable("the server is shutting down")
