"""Moderation: mutes, the audit of moderation actions, and what crosses nodes for them.

``base.py`` is the seam (a :class:`ModerationStore` for mutes and the audit, a
:class:`Notices` channel between nodes), with one module per backend; ``service.py``
is what the node calls; ``connections.py`` is the registry of every connection per
user that ``POST /admin/users/{user}/disconnect`` closes.
"""

from __future__ import annotations

from hubbub.extras import require_redis
from hubbub.moderation.base import ModerationStore, Notices
from hubbub.moderation.memory import LocalNotices, MemoryModeration
from hubbub.moderation.sqlite import SQLiteModeration
from hubbub.settings import Settings

__all__ = [
    "LocalNotices",
    "MemoryModeration",
    "ModerationStore",
    "Notices",
    "SQLiteModeration",
    "make_moderation_store",
    "make_notices",
]


def make_moderation_store(settings: Settings) -> ModerationStore:
    """Where mutes and the audit live: beside the messages, where every node sees them
    (the Redis of the Redis store, the SQLite file the nodes share, or memory)."""
    if settings.store == "memory":
        return MemoryModeration()
    if settings.store == "redis":
        require_redis()
        from hubbub.moderation.redis import RedisModeration

        return RedisModeration(settings.redis[0])
    return SQLiteModeration(settings.db)


def make_notices(settings: Settings) -> Notices:
    """Redis pub/sub between nodes when ``--redis`` is given; else this node alone."""
    if not settings.redis:
        return LocalNotices()
    require_redis()
    from hubbub.moderation.redis import RedisNotices

    return RedisNotices(settings.redis[0])
