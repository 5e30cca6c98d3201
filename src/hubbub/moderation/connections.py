"""Every connection of this node by user, so that an admin can close all of a user's.

Transports do not know about it: ``node.run_stream`` registers each stream (room
WebSockets on either path, SSE, and each room of ``GET /ws``), ``node.poll`` each held
long poll, and a ``GET /ws`` connection registers itself too, so that one without a
subscription is closed as well. A registration is a callback that ends that connection
with the ``disconnected`` reason; the transport turns that into its close.
"""

from __future__ import annotations

from collections.abc import Callable

End = Callable[[], None]


class UserConnections:
    """Callbacks that end a connection, by the user it is present under."""

    def __init__(self) -> None:
        self._by_user: dict[str, dict[int, End]] = {}
        self._next = 0

    def add(self, user: str, end: End) -> int:
        """Register ``end`` under ``user``; returns the handle :meth:`remove` takes."""
        self._next += 1
        self._by_user.setdefault(user, {})[self._next] = end
        return self._next

    def remove(self, user: str, handle: int) -> None:
        ends = self._by_user.get(user)
        if ends is not None:
            ends.pop(handle, None)
            if not ends:
                del self._by_user[user]

    def count(self, user: str) -> int:
        return len(self._by_user.get(user, ()))

    def disconnect(self, user: str) -> int:
        """End every connection of ``user`` on this node; returns how many."""
        ends = self._by_user.pop(user, {})
        for end in ends.values():
            end()
        return len(ends)
