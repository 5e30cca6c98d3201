"""Typing notices: at most one per user per room per second."""

from __future__ import annotations

# Seconds between two typing notices of one user in one room.
TYPING_INTERVAL = 1.0


class TypingLimiter:
    """When each user last typed in each room; notices closer than the interval are dropped."""

    __slots__ = ("_last", "interval")

    def __init__(self, interval: float = TYPING_INTERVAL) -> None:
        self.interval = interval
        self._last: dict[tuple[str, str], float] = {}

    def allow(self, room: str, user: str, now: float) -> bool:
        key = (room, user)
        last = self._last.get(key)
        if last is not None and now - last < self.interval:
            return False
        self._last[key] = now
        return True

    def forget_idle(self, now: float) -> None:
        """Drop entries old enough that they can no longer refuse anything."""
        stale = [key for key, last in self._last.items() if now - last >= self.interval]
        for key in stale:
            del self._last[key]
