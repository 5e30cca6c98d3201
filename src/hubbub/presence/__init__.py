"""Who is in a room: users with an open stream (or a recent long poll), and their changes."""

from hubbub.presence.base import OnChange, Presence, Present
from hubbub.presence.memory import MemoryPresence

__all__ = ["MemoryPresence", "OnChange", "Presence", "Present"]
