"""Moderation in memory: for the memory store (one process, nothing kept across a restart)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from hubbub.moderation.base import OnNotice
from hubbub.protocol.moderation import AuditEntry, Mute

# Audit entries kept in memory; the oldest go first.
AUDIT_KEPT = 10_000


class MemoryModeration:
    def __init__(self) -> None:
        self._mutes: dict[tuple[str, str], Mute] = {}
        self._audit: list[AuditEntry] = []
        self._next_id = 1

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def put_mute(self, mute: Mute, now: float) -> None:
        self._mutes = {key: m for key, m in self._mutes.items() if m.until > now}
        self._mutes[(mute.room, mute.user)] = mute

    async def lift_mute(self, room: str, user: str) -> bool:
        return self._mutes.pop((room, user), None) is not None

    async def mutes(self, now: float) -> list[Mute]:
        return [m for m in self._mutes.values() if m.until > now]

    async def record(self, entry: AuditEntry) -> int:
        id_ = self._next_id
        self._next_id += 1
        self._audit.append(replace(entry, id=id_))
        del self._audit[:-AUDIT_KEPT]
        return id_

    async def audit(self, before: int | None, limit: int) -> list[AuditEntry]:
        found = [e for e in reversed(self._audit) if before is None or e.id < before]
        return found[:limit]


class LocalNotices:
    """One node alone: there is nobody to tell."""

    async def start(self, on_notice: OnNotice) -> None:
        return None

    async def close(self) -> None:
        return None

    def send(self, notice: dict[str, Any]) -> None:
        return None
