"""``GET /ws``: one WebSocket that carries many rooms (the socket: ``front/multiplex.py``).

Here are the parts that are not the socket's: a :class:`Subscription` (one room of the
connection, a stream that shares the connection's outbox), the cursor of a ``subscribe``
frame (the route: ``transports/sockets.py``).
"""

from __future__ import annotations

from typing import Any

from hubbub.errors import InvalidParameter
from hubbub.hub import Stream
from hubbub.protocol.cursors import Cursor, parse_cursor


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
    query = {"since": str(since)}
    if epoch is not None:
        query["epoch"] = epoch
    return parse_cursor(query)
