"""Brokers: how committed messages reach the other nodes. One module per backend."""

from __future__ import annotations

from hubbub.broker.base import Broker, Deliver, Resync
from hubbub.broker.memory import MemoryBroker, MemoryBus

__all__ = ["Broker", "Deliver", "MemoryBroker", "MemoryBus", "Resync"]
