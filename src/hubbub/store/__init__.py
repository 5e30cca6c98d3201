"""Stores: the durable side of rooms. One module per backend."""

from __future__ import annotations

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
    """The backend the settings name."""
    if settings.store == "memory":
        return MemoryStore(retain=settings.retain)
    return SQLiteStore(
        settings.db,
        retain=settings.retain,
        shared=settings.shared_db,
        synchronous=settings.sqlite_synchronous,
    )
