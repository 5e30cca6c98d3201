"""Stores: the durable side of rooms. One module per backend."""

from __future__ import annotations

from hubbub.extras import require_redis
from hubbub.settings import Settings
from hubbub.store.base import Appended, Stamped, Store, bounds_after
from hubbub.store.memory import MemoryStore
from hubbub.store.sqlite import SQLiteStore

__all__ = [
    "Appended",
    "MemoryStore",
    "SQLiteStore",
    "Stamped",
    "Store",
    "bounds_after",
    "make_store",
]


def make_store(settings: Settings) -> Store:
    """The backend the settings name.

    With ``--redis`` and the SQLite store, the processes on this machine share the file
    (a Redis broker carries messages between them), so the store does not lock it.
    """
    if settings.store == "memory":
        return MemoryStore(retain=settings.retain, max_rooms=settings.max_rooms)
    if settings.store == "redis":
        require_redis()
        from hubbub.store.redis import RedisStore

        return RedisStore(
            settings.redis,
            retain=settings.retain,
            require_fsync=not settings.redis_weak_durability,
            max_rooms=settings.max_rooms,
        )
    return SQLiteStore(
        settings.db,
        retain=settings.retain,
        shared=settings.shared_db or bool(settings.redis),
        synchronous=settings.sqlite_synchronous,
        search=settings.search_index,
        max_rooms=settings.max_rooms,
    )
