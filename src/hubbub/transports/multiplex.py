"""``GET /ws``: one WebSocket that carries many rooms (the socket: ``front/multiplex.py``).

Here are the parts that are not the socket's: a :class:`Subscription` (one room of the
connection, a stream that shares the connection's outbox), the cursor of a ``subscribe``
frame (the route: ``transports/sockets.py``).
"""

from __future__ import annotations

from typing import Any

from hubbub.errors import InvalidParameter
from hubbub.hub import Stream
from hubbub.protocol.cursors import MAX_ID, Cursor, parse_epoch


class Subscription(Stream):
    """One room of a ``GET /ws`` connection."""

    __slots__ = ()

    def release(self) -> None:
        """The connection's outbox stays open for its other rooms."""


def frame_cursor(fields: dict[str, Any]) -> Cursor | None:
    """``since`` (a JSON number) and ``epoch`` of a subscribe frame, as a query would give."""
    since, epoch = fields.get("since"), fields.get("epoch")
    if since is None:
        return None
    if isinstance(since, bool) or not isinstance(since, int):
        raise InvalidParameter("since must be a whole number")
    if epoch is not None and not isinstance(epoch, str):
        raise InvalidParameter("epoch must be a string")
    # What parse_cursor makes of str(since), without the round trip through text (a
    # storm parses two of these per connection).
    if not 0 <= since <= MAX_ID:
        raise InvalidParameter(f"since must be a whole number from 0 to {MAX_ID}")
    return Cursor(since, parse_epoch(epoch))
