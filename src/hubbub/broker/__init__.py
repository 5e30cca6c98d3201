"""Brokers: how committed messages reach the other nodes. One module per backend."""

from __future__ import annotations

from hubbub.broker.base import Broker, Deliver, Resync
from hubbub.broker.memory import MemoryBroker, MemoryBus
from hubbub.extras import require_redis
from hubbub.settings import Settings

__all__ = ["Broker", "Deliver", "MemoryBroker", "MemoryBus", "Resync", "make_broker"]


def make_broker(settings: Settings) -> Broker:
    """Redis between processes when ``--redis`` is given, else the in-process bus.

    The Redis store's append script publishes each batch itself (atomically with the
    commit); with the SQLite store the broker publishes after the commit.
    """
    if not settings.redis:
        return MemoryBroker()
    require_redis()
    from hubbub.broker.redis import RedisBroker

    return RedisBroker(settings.redis, store_publishes=settings.store == "redis")
