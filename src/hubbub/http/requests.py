"""Serving one request: its route's handler called, its result turned into the answer's
bytes, in the request's place in the connection's queue of answers.

``Requests`` is the part of :class:`~hubbub.http.connection.FrontConnection` that does
this; a handler's ``ProtocolError`` is answered in the protocol's JSON shape, anything
else it raises is a ``500`` (logged) and the connection closes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from functools import partial
from types import CoroutineType
from typing import TYPE_CHECKING, Any

from hubbub.access_log import log_answer
from hubbub.auth import token_from
from hubbub.errors import ProtocolError, TooManyConnections, Unavailable
from hubbub.http.answers import NO_ANSWER, Answer, Later, stream_head
from hubbub.http.head import Request
from hubbub.http.refusals import error_answer
from hubbub.http.streaming import BodyWriter, Drainable, Streamed, Takeover
from hubbub.protocol.encoding import error_body

if TYPE_CHECKING:
    from hubbub.http.context import RequestFilter, ServerContext
    from hubbub.http.routes import Handler, Result

log = logging.getLogger("hubbub")

# How a pipelined request may overlap the ones before it (http/routes.py: ordered).
READ, WRITE, ALONE = 0, 1, 2
LAST_CHUNK = b"0\r\n\r\n"


class Pending:
    """A request waiting for its answer; ``data`` once it is ready."""

    __slots__ = ("access", "close", "data", "kind")

    def __init__(self, close: bool, kind: int) -> None:
        self.close = close
        self.kind = kind  # READ, WRITE or ALONE
        self.data: bytes | None = None
        # With an access log: (time.monotonic() at its head, address, method, target)
        self.access: tuple[float, str, str, str] | None = None


class Requests(Drainable):
    """Calling routes; each answer goes in its :class:`Pending`, then ``_answered``."""

    __slots__ = ()

    _ctx: ServerContext
    _address: str
    _pending: deque[Pending]
    _tasks: set[asyncio.Task[Any]]
    _transport: asyncio.Transport | None

    def _answered(self) -> None:
        raise NotImplementedError

    def _stop_taking(self) -> None:
        """No request after this one is read (it closes the connection)."""
        raise NotImplementedError

    def _take_over(self, entry: Pending, head: Request, takeover: Takeover) -> None:
        raise NotImplementedError

    def _take(self, head: Request, kind: int) -> Pending:
        entry = Pending(close=not head.keep_alive, kind=kind)
        if self._ctx.access_log is not None:
            entry.access = (time.monotonic(), head.address, head.method, head.target)
        if entry.close:
            self._stop_taking()
        self._pending.append(entry)
        return entry

    def _call(self, entry: Pending, head: Request, handler: Handler) -> None:
        """The request filters, the route's handler, then its answer, whenever it comes."""
        try:
            filters = self._ctx.request_filters
            for index, check in enumerate(filters):
                stop = check(head)
                if stop is None:
                    continue
                if not isinstance(stop, Answer):
                    # A filter that waits: the rest of the request waits for it.
                    rest = _after_filter(
                        stop, self._ctx.request_filters[index + 1 :], head, handler
                    )
                    self._when_done(entry, head, asyncio.ensure_future(rest))
                    return
                self._finish(entry, head, stop)
                return
            result = handler(head)
        except ProtocolError as error:
            self._refuse(entry, head, error)
            return
        except Exception:
            self._crash(entry)
            return
        self._result(entry, head, result)

    def _result(self, entry: Pending, head: Request, result: Result) -> None:
        kind = type(result)  # exact types first: this runs for every request
        if kind is CoroutineType:
            self._when_done(entry, head, self._ctx.loop.create_task(result))  # type: ignore[arg-type]
        elif kind is Answer or isinstance(result, Answer):
            self._finish(entry, head, result)  # type: ignore[arg-type]
        elif kind is Later:
            later: Later = result  # type: ignore[assignment]
            later.future.add_done_callback(partial(self._settled, entry, head, later.make))
        elif isinstance(result, Takeover):
            self._take_over(entry, head, result)
        elif isinstance(result, Streamed):
            self._stream(entry, head, result)
        else:
            self._when_done(entry, head, asyncio.ensure_future(result))  # type: ignore[arg-type]

    def _when_done(self, entry: Pending, head: Request, future: asyncio.Future[Any]) -> None:
        if isinstance(future, asyncio.Task):
            self._tasks.add(future)  # cancelled if the client leaves
            future.add_done_callback(self._tasks.discard)
        future.add_done_callback(partial(self._settled, entry, head, None))

    def _settled(
        self,
        entry: Pending,
        head: Request,
        make: Callable[[Any], Answer] | None,
        future: asyncio.Future[Any],
    ) -> None:
        """An awaited answer is ready (``make`` builds it from a ``Later``'s result)."""
        if future.cancelled():
            if self._transport is not None:
                self._refuse(entry, head, Unavailable("the server is shutting down"))
            return
        error = future.exception()
        if isinstance(error, ProtocolError):
            self._refuse(entry, head, error)
        elif error is not None:
            self._crash(entry, error)
        elif make is not None:
            self._finish(entry, head, make(future.result()))
        else:
            self._result(entry, head, future.result())

    def _finish(self, entry: Pending, head: Request, answer: Answer) -> None:
        ctx = self._ctx
        if answer is NO_ANSWER:
            entry.data = b""
            entry.close = True
            self._stop_taking()
            self._answered()
            return
        try:
            for hook in ctx.answer_hooks:
                hook(head, answer)
            close = entry.close or answer.close
            data = answer.render(
                ctx.date(),
                close=close,
                head_only=head.method == "HEAD",
                keep_alive=head.version == "1.0",
            )
        except Exception:
            # A hook that fails, or an answer that cannot be written: a 500, as for a
            # handler that fails (not a connection dropped, or an answer never sent).
            self._crash(entry)
            return
        if close:
            entry.close = True
            self._stop_taking()
        entry.data = data
        self._answered()

    def _refuse(self, entry: Pending, head: Request, error: ProtocolError) -> None:
        self._ctx.stats.rejected[error.code] += 1
        token_sent = token_from(head.headers, head.query) is not None
        self._finish(entry, head, error_answer(error, token_sent))

    def _refuse_over_cap(self, head: Request, client: str, refusal: str) -> None:
        """``client`` (named by a trusted proxy) is at its per-address cap: ``503``, and
        the connection closed after it (logged under the client refused)."""
        head.address = client
        entry = self._take(head, ALONE)
        self._stop_taking()
        error = TooManyConnections(f"too many connections ({refusal}); try again later")
        self._finish(entry, head, error_answer(error, None))

    def _crash(self, entry: Pending, error: BaseException | None = None) -> None:
        log.error("hubbub: error handling a request", exc_info=error or True)
        body = error_body("internal_error", "the server failed to answer this request")
        entry.close = True
        self._stop_taking()
        entry.data = Answer(500, body).render(self._ctx.date(), close=True)
        self._answered()

    # A body written over time on this connection

    def _stream(self, entry: Pending, head: Request, streamed: Streamed) -> None:
        transport = self._transport
        assert transport is not None
        ctx = self._ctx
        answer = Answer(streamed.status, content_type=streamed.content_type)
        answer.headers = streamed.headers
        try:
            for hook in ctx.answer_hooks:
                hook(head, answer)
        except Exception:
            self._crash(entry)
            return
        if head.method == "HEAD":
            entry.data = stream_head(answer, ctx.date(), chunked=False, close=entry.close)
            self._answered()
            return
        chunked = head.version == "1.1"
        if not chunked:
            entry.close = True  # an HTTP/1.0 body ends when the connection does
            self._stop_taking()
        head_bytes = stream_head(answer, ctx.date(), chunked=chunked, close=entry.close)
        transport.write(head_bytes)
        writer = BodyWriter(transport, chunked, self)
        task = ctx.loop.create_task(_produce(streamed, writer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(partial(self._streamed, entry, writer, len(head_bytes), chunked))

    def _streamed(
        self,
        entry: Pending,
        writer: BodyWriter,
        head_size: int,
        chunked: bool,
        task: asyncio.Task[None],
    ) -> None:
        if self._transport is None:
            return
        failed = not task.cancelled() and task.exception() is not None
        if failed:
            # Closed without the last chunk: the client can tell the body was cut short.
            log.error("hubbub: error in a streamed answer", exc_info=task.exception())
            entry.close = True
        entry.data = LAST_CHUNK if chunked and not failed else b""
        if entry.access is not None:
            # Logged with the bytes of the whole answer (the head went out at its start).
            started, address, method, target = entry.access
            sent = head_size + writer.sent + len(entry.data)
            self._log(started, address, method, target, 200, sent)
            entry.access = None
        if entry.close:
            self._stop_taking()
        self._answered()

    def _log(
        self, started: float, address: str, method: str, target: str, status: int, sent: int
    ) -> None:
        access_log = self._ctx.access_log
        if access_log is not None:
            log_answer(access_log, address, method, target, status, started, sent)


async def _after_filter(
    waiting: Awaitable[Answer | None],
    rest: list[RequestFilter],
    head: Request,
    handler: Handler,
) -> Result:
    """What follows a filter that waits: the filters after it, then the handler."""
    stop = await waiting
    for check in rest:
        if stop is not None:
            return stop
        found = check(head)
        stop = found if found is None or isinstance(found, Answer) else await found
    if stop is not None:
        return stop
    return handler(head)


async def _produce(streamed: Streamed, writer: BodyWriter) -> None:
    try:
        await streamed.produce(writer)
    except (ConnectionError, TimeoutError):
        writer.abort()  # gone, or too slow a reader: nothing more can be said


def hooked(ctx: ServerContext, head: Request, answer: Answer) -> Answer:
    """``answer`` once the answer hooks saw it; a ``500`` (logged) if one raises."""
    try:
        for hook in ctx.answer_hooks:
            hook(head, answer)
    except Exception:
        log.error("hubbub: error in an answer hook", exc_info=True)
        body = error_body("internal_error", "the server failed to answer this request")
        return Answer(500, body)
    return answer


def log_access(ctx: ServerContext, entry: Pending) -> None:
    """The access log's line for an answer, as it goes out (``access_log.py``)."""
    assert ctx.access_log is not None and entry.access is not None and entry.data is not None
    started, address, method, target = entry.access
    status = int(entry.data[9:12])  # "HTTP/1.1 201 ..."
    log_answer(ctx.access_log, address, method, target, status, started, len(entry.data))
