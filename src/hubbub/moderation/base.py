"""The seams of moderation: where mutes and the audit are kept, and how nodes tell each other.

Every node keeps every active mute in memory (a :class:`~hubbub.protocol.moderation.MuteTable`,
so a publish is checked without I/O) and reloads it from the :class:`ModerationStore` when a
:class:`Notices` message says some node changed one. A notice that is lost (a dropped
Redis connection) is made up for: the channel reports a resync and the node reloads.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from hubbub.protocol.moderation import AuditEntry, Mute

# on_notice(notice): called on the event loop for every notice another node sent, and with
# {"kind": "resync"} after the channel was down (notices may have been missed).
OnNotice = Callable[[dict[str, Any]], None]


class ModerationStore(Protocol):
    """Mutes and the audit log. Failures raise ``hubbub.errors.StoreError``."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def put_mute(self, mute: Mute, now: float) -> None:
        """Store ``mute`` (replacing the user's mute in that room); forget ended ones."""

    async def lift_mute(self, room: str, user: str) -> bool:
        """Remove the user's mute in ``room``; False if there was none."""

    async def mutes(self, now: float) -> list[Mute]:
        """Every mute that has not ended by ``now``."""

    async def record(self, entry: AuditEntry) -> int:
        """Append ``entry`` to the audit; returns its id (ids increase)."""

    async def audit(self, before: int | None, limit: int) -> list[AuditEntry]:
        """Up to ``limit`` entries with ``id < before`` (all if None), newest first."""


class Notices(Protocol):
    """Best-effort messages to every other node (mutes changed, disconnect a user)."""

    async def start(self, on_notice: OnNotice) -> None: ...

    async def close(self) -> None: ...

    def send(self, notice: dict[str, Any]) -> None:
        """To every other node; never blocks, never raises (a failure is logged)."""
