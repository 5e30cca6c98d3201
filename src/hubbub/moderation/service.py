"""What the node does for moderators and admins: mutes, disconnects, clearing a room, the audit.

Who may: a moderator of a room (its ``mod`` claim) or an admin (``admin: true``) may delete
any message of the room and mute its users; only an admin (``admin_access.py``: the claim
with tokens, a loopback peer without) may disconnect a user, clear a room or read the audit.
On a server without tokens a loopback peer may also use the mute routes (it is the admin
there); a delete over the message routes still needs a token's claim, so without tokens
only a message's author deletes it.

Every action is recorded in the audit before it is answered. Every node keeps every active
mute in memory; a change is written to the store first, applied here, then sent to the
other nodes, which apply it and tell their streams (a ``mute`` or ``unmute`` event), so a
client that saw that event on a node knows that node refuses the muted user.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator
from typing import Any

from hubbub.admin_access import admin_allowed
from hubbub.broker import Broker
from hubbub.errors import Forbidden, NotFound, StoreError, Unavailable, reading_store
from hubbub.hub import Hub
from hubbub.moderation.base import ModerationStore, Notices
from hubbub.moderation.connections import UserConnections
from hubbub.principal import Principal
from hubbub.protocol import moderation as rules
from hubbub.protocol.messages import Message
from hubbub.protocol.moderation import AuditEntry, Mute, MuteRequest, MuteTable, actor_name
from hubbub.protocol.tokens import can_moderate
from hubbub.store import Store

log = logging.getLogger(__name__)

MAX_AUDIT_PAGE = 1000


class Moderation:
    """Mutes, the per-user connection registry, admin actions and the audit of one node."""

    def __init__(
        self,
        store: ModerationStore,
        notices: Notices,
        *,
        hub: Hub,
        messages: Store,
        broker: Broker,
        tokens_required: bool,
    ) -> None:
        self._store = store
        self._notices = notices
        self._hub = hub
        self._messages = messages
        self._broker = broker
        self._tokens_required = tokens_required
        self.mutes = MuteTable()
        self.connections = UserConnections()
        self._reloading: asyncio.Task[None] | None = None
        # Notices that arrived while the table was being read afresh, applied after it.
        self._held: list[dict[str, Any]] | None = None
        self._ends: dict[tuple[str, str], asyncio.TimerHandle] = {}

    async def start(self) -> None:
        await self._store.open()
        try:
            self._replace(await self._store.mutes(time.time()))
            await self._notices.start(self._on_notice)
        except BaseException:
            await self._store.close()
            raise

    async def close(self) -> None:
        for timer in self._ends.values():
            timer.cancel()
        self._ends.clear()
        await self._notices.close()
        if self._reloading is not None:
            self._reloading.cancel()
            await asyncio.gather(self._reloading, return_exceptions=True)
        await self._store.close()

    # Who may

    def may_moderate(self, principal: Principal, room: str) -> bool:
        """A token's moderator of ``room``, or a token's admin (deletes of others' messages)."""
        return principal.admin or can_moderate(principal, room)

    def check_moderator(self, principal: Principal, room: str) -> None:
        """The mute routes: a moderator of ``room``, or whoever may use the admin routes."""
        if self.may_moderate(principal, room) or self.is_admin(principal):
            return
        raise Forbidden(f"only a moderator of room {room} may do this (the token's mod claim)")

    def is_admin(self, principal: Principal) -> bool:
        return admin_allowed(principal, principal.address, self._tokens_required)

    def check_admin(self, principal: Principal) -> None:
        if not self.is_admin(principal):
            if self._tokens_required:
                raise Forbidden("only an admin may do this (a token with admin: true)")
            raise Forbidden("without tokens, only this machine (a loopback address) is admin")

    # Mutes

    def check_muted(self, room: str, user: str) -> None:
        """Refuse ``403 muted`` (with the seconds left) while ``user`` is muted in ``room``."""
        users = self.mutes.rooms.get(room)  # the publish path: no clock read unless muted here
        if users and user in users:
            self.mutes.check(room, user, time.time())

    async def mute(self, principal: Principal, room: str, request: MuteRequest) -> Mute:
        self.check_moderator(principal, room)
        now = time.time()
        mute = Mute(
            room,
            request.user,
            now + request.seconds,
            request.reason,
            actor_name(principal.user, principal.address),
            now,
        )
        with _store_write("mute"):
            await self._store.put_mute(mute, now)
        self._apply_mute(mute)
        self._notices.send({"kind": "mute", "mute": mute.to_record()})
        detail = {"seconds": request.seconds, "reason": request.reason}
        await self._audit(principal, rules.MUTE, room, request.user, detail)
        return mute

    async def unmute(self, principal: Principal, room: str, user: str) -> None:
        self.check_moderator(principal, room)
        with _store_write("unmute"):
            lifted = await self._store.lift_mute(room, user)
        if not lifted:
            raise NotFound(f"{user} is not muted in room {room}")
        self._apply_unmute(room, user)
        self._notices.send({"kind": "unmute", "room": room, "user": user})
        await self._audit(principal, rules.UNMUTE, room, user, {})

    async def list_mutes(self, principal: Principal, room: str) -> list[Mute]:
        """The room's active mutes, from the store (the authority every node shares)."""
        self.check_moderator(principal, room)
        with reading_store():
            mutes = await self._store.mutes(time.time())
        return sorted((m for m in mutes if m.room == room), key=lambda m: m.user)

    async def all_mutes(self, principal: Principal) -> list[Mute]:
        """Every active mute of every room (the operations page lists them): admins only."""
        self.check_admin(principal)
        with reading_store():
            mutes = await self._store.mutes(time.time())
        return sorted(mutes, key=lambda m: (m.room, m.user))

    def _apply_mute(self, mute: Mute) -> None:
        self.mutes.put(mute)
        self._end_at(mute)
        body = mute.to_dict(time.time())
        del body["room"]
        self._hub.broadcast(mute.room, "mute", body)

    def _apply_unmute(self, room: str, user: str) -> None:
        self.mutes.lift(room, user)
        self._cancel_end(room, user)
        self._hub.broadcast(room, "unmute", {"user": user, "ended": False})

    def _end_at(self, mute: Mute) -> None:
        """Tell the room's streams when the mute ends by itself (``unmute``, ended)."""
        self._cancel_end(mute.room, mute.user)
        delay = max(0.0, mute.until - time.time())
        loop = asyncio.get_running_loop()
        self._ends[(mute.room, mute.user)] = loop.call_later(delay, self._ended, mute)

    def _cancel_end(self, room: str, user: str) -> None:
        timer = self._ends.pop((room, user), None)
        if timer is not None:
            timer.cancel()

    def _ended(self, mute: Mute) -> None:
        self._ends.pop((mute.room, mute.user), None)
        now = time.time()
        if mute.until > now:  # the loop's clock ran ahead of the wall clock
            self._end_at(mute)
            return
        current = self.mutes.rooms.get(mute.room, {}).get(mute.user)
        if current is not None and current.until > now:
            return  # muted again since
        self.mutes.lift(mute.room, mute.user)
        self._hub.broadcast(mute.room, "unmute", {"user": mute.user, "ended": True})

    def forget_ended(self) -> None:
        self.mutes.forget_ended(time.time())

    # Deletes by a moderator

    async def record_delete(self, principal: Principal, delete: Message, author: str) -> None:
        """A moderator removed ``author``'s message: the log has the delete; the audit too."""
        detail = {"target": delete.target, "id": delete.id}
        await self._audit(principal, rules.DELETE, delete.room, author, detail)

    # Admin actions

    async def disconnect(self, principal: Principal, user: str) -> int:
        """Close every connection of ``user`` on every node; returns how many on this one."""
        self.check_admin(principal)
        closed = self.connections.disconnect(user)
        self._notices.send({"kind": "disconnect", "user": user})
        await self._audit(principal, rules.DISCONNECT, None, user, {"closed_here": closed})
        return closed

    async def clear(self, principal: Principal, room: str) -> str:
        """Clear ``room``'s history: its log starts a new epoch, every node's clients are
        told (streams end as at any reset, and reconnect to a gap). Returns the epoch."""
        self.check_admin(principal)
        with _store_write("clear"):
            epoch = await self._messages.clear(room)
        self._hub.recheck(room)
        self._broker.publish(room, epoch, [])  # the other nodes see the new epoch and reset
        await self._audit(principal, rules.CLEAR, room, None, {"epoch": epoch})
        return epoch

    async def audit(self, principal: Principal, before: int | None, limit: int) -> list[AuditEntry]:
        self.check_admin(principal)
        with reading_store():
            return await self._store.audit(before, min(limit, MAX_AUDIT_PAGE))

    async def _audit(
        self,
        principal: Principal,
        action: str,
        room: str | None,
        user: str | None,
        detail: dict[str, Any],
    ) -> None:
        entry = AuditEntry(
            actor_name(principal.user, principal.address), action, time.time(), room, user, detail
        )
        try:
            await self._store.record(entry)
        except StoreError as exc:
            # The action is done and cannot be taken back; say loudly that it is unrecorded.
            log.error("moderation: could not record %s in the audit: %s", entry.to_dict(), exc)
            raise Unavailable("the action was done but could not be recorded in the audit") from exc

    # Other nodes

    def _on_notice(self, notice: dict[str, Any]) -> None:
        kind = notice.get("kind")
        if kind == "resync":
            self._reload()
            return
        self._apply_notice(notice)
        if self._held is not None and kind in ("mute", "unmute"):
            self._held.append(notice)

    def _apply_notice(self, notice: dict[str, Any]) -> None:
        kind = notice.get("kind")
        try:
            if kind == "mute":
                self._apply_mute(Mute.from_record(notice["mute"]))
            elif kind == "unmute":
                self._apply_unmute(str(notice["room"]), str(notice["user"]))
            elif kind == "disconnect":
                self.connections.disconnect(str(notice["user"]))
        except (KeyError, TypeError, ValueError) as exc:
            log.error("moderation: unreadable notice %r: %s", kind, exc)

    def _reload(self) -> None:
        """Notices may have been missed: read every mute afresh."""
        if self._reloading is None or self._reloading.done():
            self._reloading = asyncio.get_running_loop().create_task(self._read_mutes())

    async def _read_mutes(self) -> None:
        self._held = []
        try:
            mutes = await self._store.mutes(time.time())
        except StoreError as exc:
            log.warning("moderation: cannot read the mutes after a notice outage: %s", exc)
            return
        finally:
            held, self._held = self._held, None
        self._replace(mutes)
        for notice in held:  # already told to the streams: only the table needs them again
            if notice["kind"] == "mute":
                mute = Mute.from_record(notice["mute"])
                self.mutes.put(mute)
                self._end_at(mute)
            else:
                self.mutes.lift(str(notice["room"]), str(notice["user"]))
                self._cancel_end(str(notice["room"]), str(notice["user"]))

    def _replace(self, mutes: list[Mute]) -> None:
        for timer in self._ends.values():
            timer.cancel()
        self._ends.clear()
        self.mutes.replace(mutes)
        for mute in mutes:
            self._end_at(mute)


@contextlib.contextmanager
def _store_write(what: str) -> Iterator[None]:
    """Around a moderation store write: a failure is ``503 unavailable`` to the client."""
    try:
        yield
    except StoreError as exc:
        raise Unavailable(f"the {what} could not be stored") from exc
