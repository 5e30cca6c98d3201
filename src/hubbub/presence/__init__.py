"""Who is in a room: users with an open stream (or a recent long poll), and their changes."""

from __future__ import annotations

from hubbub.extras import require_redis
from hubbub.presence.base import OnChange, OnTyping, Presence, Present
from hubbub.presence.memory import MemoryPresence
from hubbub.settings import Settings

__all__ = ["MemoryPresence", "OnChange", "OnTyping", "Presence", "Present", "make_presence"]


def make_presence(settings: Settings) -> Presence:
    """The union over nodes through Redis when ``--redis`` is given, else this node's only."""
    if not settings.redis:
        return MemoryPresence(settings.presence_grace)
    require_redis()
    from hubbub.presence.redis import RedisPresence

    return RedisPresence(settings.redis, settings.presence_grace, settings.presence_ttl)
