"""Presence on one node, in memory: counts per room and user, leaves after a grace."""

from __future__ import annotations

import asyncio

from hubbub.presence.base import OnChange, OnTyping, Present


class MemoryPresence:
    """This node's connections per room; a user's last leave is told after ``grace`` seconds
    unless they connect again first (a reload)."""

    def __init__(self, grace: float) -> None:
        self.grace = grace
        self._rooms: dict[str, Present] = {}
        # Users whose last connection closed, until the grace ends: (room, user) -> timer.
        self._leaving: dict[tuple[str, str], asyncio.TimerHandle] = {}
        self._on_change: OnChange | None = None

    def start(self, on_change: OnChange, on_typing: OnTyping | None = None) -> None:
        self._on_change = on_change

    async def watch(self, room: str) -> None:
        return None  # nothing to learn from other nodes

    def knows(self, room: str) -> bool:
        return True

    def join(self, room: str, user: str | None) -> None:
        present = self._rooms.get(room)
        if present is None:
            present = self._rooms[room] = Present()
        if user is None:
            present.anonymous += 1
            return
        count = present.users.get(user, 0)
        present.users[user] = count + 1
        if count:
            return  # another tab of a user already here
        pending = self._leaving.pop((room, user), None)
        if pending is not None:
            pending.cancel()  # back within the grace: they never left
        else:
            self._tell(room, [user], [])

    def leave(self, room: str, user: str | None) -> None:
        present = self._rooms.get(room)
        if present is None:
            return
        if user is None:
            present.anonymous = max(0, present.anonymous - 1)
        else:
            count = present.users.get(user, 0) - 1
            if count > 0:
                present.users[user] = count
            elif count == 0:
                # Still listed (with no connection) until the grace ends.
                present.users[user] = 0
                loop = asyncio.get_running_loop()
                key = (room, user)
                self._leaving[key] = loop.call_later(self.grace, self._expire, room, user)
        self._drop_if_empty(room, present)

    def _expire(self, room: str, user: str) -> None:
        self._leaving.pop((room, user), None)
        present = self._rooms.get(room)
        if present is None or present.users.get(user) != 0:
            return
        del present.users[user]
        self._drop_if_empty(room, present)
        self._tell(room, [], [user])

    def _drop_if_empty(self, room: str, present: Present) -> None:
        if not present.users and not present.anonymous:
            self._rooms.pop(room, None)

    def _tell(self, room: str, joined: list[str], left: list[str]) -> None:
        if self._on_change is not None:
            self._on_change(room, joined, left)

    def present(self, room: str) -> Present:
        present = self._rooms.get(room)
        if present is None:
            return Present()
        return Present(dict(present.users), present.anonymous)

    async def read(self, room: str) -> Present:
        return self.present(room)

    def typing(self, room: str, user: str) -> None:
        return None  # no other node to tell

    def rooms(self) -> list[str]:
        """Rooms with a connection, or a user within their grace, on this node."""
        return list(self._rooms)

    async def close(self) -> None:
        self.cancel()

    def cancel(self) -> None:
        """Cancel pending leaves and tell nothing more."""
        for timer in self._leaving.values():
            timer.cancel()
        self._leaving.clear()
        self._on_change = None
