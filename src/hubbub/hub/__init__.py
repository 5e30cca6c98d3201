"""Rooms in memory: the hub (registry and sequencer), rooms, streams and outboxes."""

from __future__ import annotations

from hubbub.hub.hub import Hub
from hubbub.hub.outbox import FlushScheduler, Outbox
from hubbub.hub.room import RECENT_CACHE, Room, Stream

__all__ = ["RECENT_CACHE", "FlushScheduler", "Hub", "Outbox", "Room", "Stream"]
