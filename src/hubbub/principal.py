"""Who is asking: the principal every entry point receives.

Publishing, polling and opening a stream each take a :class:`Principal`, so that
access checks live in one place (``access.py``) and transports only say who the
request came from. With access control off every request is :data:`ANONYMOUS`,
which may read and write every room.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated user, or the anonymous one.

    ``read`` and ``write`` are room patterns (a name, or a prefix ending in ``*``);
    None means every room. ``expires`` is a Unix time in seconds, None if never.
    ``key`` is what rate limits count against: the user when one is named, else the
    client's address. ``admin`` (the token's ``admin`` claim) opens the admin routes;
    ``mod`` (its ``mod`` claim) are the room patterns this principal moderates.
    """

    user: str | None = None
    read: tuple[str, ...] | None = None
    write: tuple[str, ...] | None = None
    expires: float | None = None
    address: str = "unknown"
    admin: bool = False
    mod: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return f"user:{self.user}" if self.user is not None else f"addr:{self.address}"


ANONYMOUS = Principal()
