"""The presence seam: what the node needs to know and tell about who is in a room.

Streams join when they open and leave when they close; a named user is present
while one of their connections is, and for a grace period after the last one
closes, so a page reload is not a leave and a join. Changes are told through
``on_change(room, joined, left)``, which the node turns into ephemeral
``presence`` events on the room's streams. The memory backend knows this node
only; the Redis one (``redis.py``) keeps the union over nodes, forgets a node that
stopped refreshing its entries after a TTL, and carries typing notices between nodes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

# (room, joined, left): user names whose presence changed.
OnChange = Callable[[str, list[str], list[str]], None]
# (room, user): someone on another node is typing in the room.
OnTyping = Callable[[str, str], None]


@dataclass(slots=True)
class Present:
    """Who is in one room: connections per named user, and unnamed connections."""

    users: dict[str, int] = field(default_factory=dict)
    anonymous: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The ``GET /rooms/{room}/presence`` answer, users sorted by name."""
        return {
            "users": [{"user": u, "connections": n} for u, n in sorted(self.users.items())],
            "anonymous": self.anonymous,
        }


class Presence(Protocol):
    """Connections joining and leaving rooms; reading a room's presence is synchronous,
    so a stream's opening snapshot and its going live happen in one step."""

    def start(self, on_change: OnChange, on_typing: OnTyping) -> None:
        """Begin telling changes to ``on_change`` and other nodes' typing notices to
        ``on_typing`` (both called on the event loop)."""

    async def watch(self, room: str) -> None:
        """Called before a connection joins ``room``: returns once ``present`` knows the
        other nodes' connections in it (at once for a backend of one node)."""

    def knows(self, room: str) -> bool:
        """Whether :meth:`watch` of ``room`` would return at once (a connection may join
        it in this step, with no wait)."""

    def join(self, room: str, user: str | None) -> None:
        """One more connection of ``user`` (None: anonymous) in ``room``."""

    def leave(self, room: str, user: str | None) -> None:
        """One connection fewer; the user leaves after the grace if it was their last."""

    def present(self, room: str) -> Present:
        """Who is in ``room`` now (users within their grace period included)."""

    async def read(self, room: str) -> Present:
        """Who is in ``room``, whether or not this node has a connection in it."""

    def typing(self, room: str, user: str) -> None:
        """Tell the other nodes ``user`` is typing in ``room`` (this node's streams are told
        by the node); never blocks."""

    async def close(self) -> None:
        """Cancel pending leaves; tell nothing more. A second call does nothing."""
