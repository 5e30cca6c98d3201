"""Server-Sent Events: what a stream of ``id:``/``event:``/``data:`` events from a cursor
is (its socket is ``front/sse.py``'s): its headers, its cursor, its pings and its end.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from hubbub.http.head import EVENT_STREAM
from hubbub.http.streaming import BodyWriter, Streamed
from hubbub.hub import Stream
from hubbub.protocol.cursors import Cursor, parse_cursor, parse_last_event_id
from hubbub.protocol.encoding import SSE_DISCONNECTED, SSE_EXPIRED, SSE_PING

SSE_HEADERS = {
    "Content-Type": EVENT_STREAM,
    "Cache-Control": "no-store",
    # Tells nginx-style proxies not to buffer the stream.
    "X-Accel-Buffering": "no",
}
# The same but the type, which an answer carries in a field of its own.
SSE_MORE_HEADERS = tuple((k, v) for k, v in SSE_HEADERS.items() if k != "Content-Type")


def sse_streamed(produce: Callable[[BodyWriter], Awaitable[None]]) -> Streamed:
    """An event stream written by ``produce`` on the connection (``http/streaming.py``)."""
    return Streamed(produce, content_type=EVENT_STREAM, headers=list(SSE_MORE_HEADERS))


class EventStream(Stream):
    """An SSE stream: a comment line keeps an idle stream (and its proxies) open."""

    __slots__ = ()
    KEEPS_ALIVE = True

    def end(self, reason: str) -> None:
        if reason == "expired" and not self.ended:
            # Said before the stream ends, so the client knows to get a fresh token.
            self.outbox.push(SSE_EXPIRED)
        elif reason == "disconnected" and not self.ended:
            # With a retry long enough that EventSource does not come straight back.
            self.outbox.push(SSE_DISCONNECTED)
        super().end(reason)

    def tick(self, now: float, interval: float) -> None:
        if now - max(self.outbox.last_write, self.last_ping) >= interval:
            self.last_ping = now
            self.outbox.push(SSE_PING)


def stream_cursor(last_event_id: str | None, query: Mapping[str, str]) -> Cursor | None:
    """``Last-Event-ID`` (sent by a reconnecting EventSource) wins over ``?since=``."""
    header = (last_event_id or "").strip()
    if header:
        return parse_last_event_id(header)
    return parse_cursor(query)
