"""The node: wiring and life cycle, and the entry points transports call.

Transports call the node and nothing below it. Every entry point takes the
request's :class:`~hubbub.principal.Principal`, checked in one place
(``access.py``). Reading lives in ``reads.py``, streams in ``streams.py``,
rooms and fan-out in ``hub/``, the write path in ``store/committer.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable
from functools import partial

from hubbub.access import Access
from hubbub.broker import Broker, make_broker
from hubbub.errors import (
    Disconnected,
    ProtocolError,
    RateLimited,
    Unavailable,
    UnknownHost,
    reading_store,
)
from hubbub.hub import FlushScheduler, Hub, Stream
from hubbub.moderation import (
    MemoryModeration,
    ModerationStore,
    make_moderation_store,
    make_notices,
)
from hubbub.moderation.service import Moderation
from hubbub.presence import Presence, Present, make_presence
from hubbub.principal import Principal
from hubbub.protocol.corrections import check_correction
from hubbub.protocol.cursors import Cursor, ReadQuery
from hubbub.protocol.encoding import EncodedMessage
from hubbub.protocol.hosts import host_known, known_hosts
from hubbub.protocol.messages import DELETE, Publish
from hubbub.protocol.moderation import RECONNECT_AFTER
from hubbub.protocol.ratelimit import RateLimiter
from hubbub.protocol.tokens import name_before, name_ranges
from hubbub.reads import Reads
from hubbub.recorder import Recorder
from hubbub.searches import Searches
from hubbub.settings import Settings
from hubbub.stats import Stats
from hubbub.store import Appended, Store, make_store
from hubbub.store.committer import Answer, Committed, Committer
from hubbub.streams import Drain, Finished, Streams
from hubbub.typing_limit import TypingLimiter

log = logging.getLogger(__name__)


def _rate_limiter(settings: Settings) -> RateLimiter | None:
    if settings.rate_limit is None:
        return None
    burst = settings.rate_burst or max(1, math.ceil(settings.rate_limit))
    return RateLimiter(settings.rate_limit, burst)


class Node:
    """Everything a transport needs, behind one object built per server."""

    def __init__(
        self,
        settings: Settings,
        store: Store | None = None,
        broker: Broker | None = None,
        moderation: ModerationStore | None = None,
    ) -> None:
        self.settings = settings
        self.stats = Stats()
        self.store = store if store is not None else make_store(settings)
        self.broker = broker if broker is not None else make_broker(settings)
        self.access = Access(settings)
        # Without tokens, only requests naming this server are answered (DNS rebinding).
        self.known_hosts: frozenset[str] | None = None
        if not self.access.enabled:
            self.known_hosts = known_hosts(
                settings.host, settings.public_host, settings.allow_origin
            )
        self.hub = Hub(
            self.store,
            self.broker,
            self.stats,
            retain=settings.retain,
            room_idle=settings.room_idle,
            shared=bool(settings.redis),
        )
        self.reads = Reads(self.hub, self.store, self.stats)
        self.searches = Searches(self.store, self.access)
        self.presence: Presence = make_presence(settings)
        self.streams = Streams(self.hub, self.reads, self.stats, self.presence)
        self.typing = TypingLimiter()
        self.committer = Committer(self.store, self._on_commit, self.stats, self.hub.writes_of)
        self.rate_limiter = _rate_limiter(settings)
        if moderation is None:
            # A store handed in (tests, embedding) keeps its mutes in memory beside it.
            handed_in = store is not None
            moderation = MemoryModeration() if handed_in else make_moderation_store(settings)
        self.moderation = Moderation(
            moderation,
            make_notices(settings),
            hub=self.hub,
            messages=self.store,
            broker=self.broker,
            tokens_required=self.access.enabled,
        )
        self.recorder = Recorder(settings, self.stats, self.hub, self.presence, self.store)
        self.closing = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._heartbeat_task: asyncio.Task[None] | None = None

    # Life cycle

    async def start(self) -> None:
        loop = self._loop = asyncio.get_running_loop()
        self.hub.start(loop)
        await self.store.open()
        try:
            await self.broker.start(self.hub.on_broker, self.hub.resync)
        except BaseException:
            await self.store.close()
            raise
        try:
            await self.moderation.start()
        except BaseException:
            await self.broker.close()
            await self.store.close()
            raise
        self.committer.start()
        self.presence.start(self._on_presence, self._on_typing)
        self.recorder.start(loop)
        self._heartbeat_task = loop.create_task(self._heartbeat(), name="hubbub-heartbeat")

    def begin_shutdown(self) -> None:
        """Answer every waiting long poll, end every stream and close every held socket."""
        self.closing = self.reads.closing = True
        self.streams.end_all("shutdown")
        self.hub.wake_all_waiters()
        self.recorder.end_viewers()

    async def stop(self) -> None:
        """Commit what is queued, then close the broker and the store."""
        self.closing = True
        await self.committer.close()
        await self.recorder.stop()
        if self._heartbeat_task is not None:
            self._heartbeat_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat_task
        await self.presence.close()
        await self.moderation.close()
        await self.hub.close()
        await self.broker.close()
        await self.store.close()

    @property
    def scheduler(self) -> FlushScheduler:
        assert self.hub.scheduler is not None, "node not started"
        return self.hub.scheduler

    # Publishing

    def principal(self, token: str | None, address: str) -> Principal:
        return self.access.principal(token, address)

    def host_refusal(self, host: str | None) -> UnknownHost | None:
        """The 421 for a request naming a host this token-less server is not known by."""
        known = self.known_hosts
        if known is None or host_known(host, known):
            return None
        shown = host[:100] if host else ""
        return UnknownHost(
            f"this server is not known as {shown!r}: open it by its address or localhost, "
            "or start it with --public-host NAME"
        )

    @property
    def user_required(self) -> bool:
        """Whether a publish must name its ``user`` (with a token, ``sub`` names it)."""
        return not self.access.enabled

    def submit(self, principal: Principal, publish: Publish) -> asyncio.Future[Committed]:
        """Check and queue a publish; ids follow submission order. Resolves once committed.

        A muted user's publishes and edits are refused (``403 muted``); their deletes are
        not (they may still take back what they said)."""
        publish, moderating = self._accept(principal, publish)
        if publish.target is None:
            return self.committer.submit(publish)
        return asyncio.ensure_future(self._submit_correction(principal, publish, moderating))

    def submit_to(self, principal: Principal, publish: Publish, answer: Answer) -> None:
        """:meth:`submit`, its outcome told to ``answer``: a message's in the step of its
        commit (``Committer.submit_to``: no future per publish), a correction's once its
        target is checked and it is committed. The checks raise, as ``submit``'s do."""
        publish, moderating = self._accept(principal, publish)
        if publish.target is None:
            self.committer.submit_to(publish, answer)
            return
        correction = asyncio.ensure_future(self._submit_correction(principal, publish, moderating))
        correction.add_done_callback(partial(_answer_correction, answer, publish))

    def _accept(self, principal: Principal, publish: Publish) -> tuple[Publish, bool]:
        """The checks of a publish before it is queued: the publish as stored (stamped with
        the token's user), and whether it is a moderator's delete."""
        moderating = publish.kind == DELETE and self.moderation.may_moderate(
            principal, publish.room
        )
        self.access.check_write(principal, publish.room, moderating=moderating)
        publish = self.access.stamp(principal, publish)
        if publish.kind != DELETE:
            self.moderation.check_muted(publish.room, publish.user)
        if self.closing:
            raise Unavailable("the server is shutting down")
        self._check_rate(principal)
        return publish, moderating

    async def _submit_correction(
        self, principal: Principal, publish: Publish, moderating: bool
    ) -> Committed:
        """An edit or delete: queued once its target is known to be the author's message
        (or, for a moderator's delete, a message of a room they moderate).

        Authorship never changes, so checking before the commit is not a race."""
        target = await self.reads.message(publish.room, publish.target or 0)
        target = check_correction(publish, target, moderating=moderating)
        committed = await self.committer.submit(publish)
        if target.user != publish.user and committed.created:
            await self.moderation.record_delete(principal, committed.message.message, target.user)
        return committed

    async def publish(self, principal: Principal, publish: Publish) -> Committed:
        return await self.submit(principal, publish)

    def _check_rate(self, principal: Principal) -> None:
        """Refuse a publish over its sender's rate (429), when limiting is on."""
        if self.rate_limiter is None:
            return
        assert self._loop is not None
        wait = self.rate_limiter.take(principal.key, self._loop.time())
        if wait:
            raise RateLimited(f"over {self.rate_limiter.rate:g} publishes per second", wait)

    def _on_commit(self, results: list[Appended]) -> list[EncodedMessage]:
        """Committed: apply to this node's rooms at once, and tell the other nodes."""
        encoded = [EncodedMessage(appended.message, appended.epoch) for appended in results]
        fresh: dict[str, list[EncodedMessage]] = {}
        for message, appended in zip(encoded, results, strict=True):
            if appended.created:
                fresh.setdefault(appended.message.room, []).append(message)
        for room, messages in fresh.items():
            epoch = messages[0].epoch
            self.stats.published += len(messages)
            self.stats.room_messages[room] += len(messages)
            self.stats.delivered += self.hub.apply(room, epoch, messages)
            self.broker.publish(room, epoch, [m.message for m in messages])
        return encoded

    # Reading

    async def poll(
        self, principal: Principal, room: str, query: ReadQuery, user: str | None = None
    ) -> bytes:
        """A short poll, or a long poll when the query has ``wait``; a long poll makes
        ``user`` present while it is held (and for the grace after)."""
        self.access.check_read(principal, room)
        if query.wait is not None:
            wait = query.wait
            if principal.expires is not None:
                # Held no longer than the token is valid; then answered as usual.
                wait = max(0.0, min(wait, principal.expires - time.time()))
            await self.presence.watch(room)
            self.presence.join(room, user)
            try:
                if user is None:
                    return await self.reads.long_poll(room, query.since, query.limit, wait)
                return await self._held_long_poll(room, query, wait, user)
            finally:
                self.presence.leave(room, user)
        return await self.reads.poll(
            room, query.since, query.before, query.limit, latest=query.latest, around=query.around
        )

    async def _held_long_poll(self, room: str, query: ReadQuery, wait: float, user: str) -> bytes:
        """A long poll of a named user, which an admin's disconnect ends (``403
        disconnected``): registered with the user's connections while it is held."""
        poll = asyncio.ensure_future(self.reads.long_poll(room, query.since, query.limit, wait))
        ended = False

        def end() -> None:
            nonlocal ended
            ended = True
            poll.cancel()

        handle = self.moderation.connections.add(user, end)
        try:
            return await poll
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if not ended or (current is not None and current.cancelling()):
                raise  # the client went away (the poll was cancelled with it)
            raise Disconnected(
                f"disconnected by an admin: wait {RECONNECT_AFTER} s before polling again",
                RECONNECT_AFTER,
            ) from None
        finally:
            self.moderation.connections.remove(user, handle)

    def hold_connection(self, user: str | None, end: Callable[[], None]) -> Callable[[], None]:
        """Register a connection of ``user`` that an admin's disconnect ends with ``end``
        (``GET /ws`` registers itself in ``moderation.connections``, so that one with no
        subscription is ended too). Returns what to call once the connection is gone."""
        if user is None:
            return _nothing
        handle = self.moderation.connections.add(user, end)
        return partial(self.moderation.connections.remove, user, handle)

    def check_stream(self, principal: Principal, room: str) -> None:
        """Refuse a stream before it opens (for WebSocket: before the upgrade)."""
        self.access.check_read(principal, room)

    async def run_stream(self, stream: Stream, cursor: Cursor | None, drain: Drain) -> str:
        """Serve ``stream`` from ``cursor`` until it ends; returns why it ended."""
        self.access.check_read(stream.principal, stream.room)
        release = self.hold_connection(stream.user, partial(stream.end, "disconnected"))
        try:
            return await self.streams.run(stream, cursor, drain)
        finally:
            release()

    def start_stream(
        self,
        stream: Stream,
        cursor: Cursor | None,
        drain: Drain,
        finished: Finished,
        *,
        hold: bool = True,
        checked: bool = False,
    ) -> None:
        """Serve ``stream`` as :meth:`run_stream` does, with no task once it is live
        (``streams.py: Streams.start``); ``finished`` is told why it ended. ``hold``: an
        admin's disconnect of the stream's user ends it (``GET /ws`` holds its socket
        instead, once for all its rooms). ``checked``: the caller has just made
        :meth:`check_stream` for it (``GET /ws``, before the subscription is kept)."""
        if not checked:
            self.access.check_read(stream.principal, stream.room)
        if hold and stream.user is not None:
            release = self.hold_connection(stream.user, partial(stream.end, "disconnected"))
            finished = partial(_released_then, release, finished)
        self.streams.start(stream, cursor, drain, finished)

    # Chat: presence and typing (ephemeral: never stored, never a cursor)

    def presence_name(self, principal: Principal, requested: str | None) -> str | None:
        """The name a connection is present and types under: with access control on, the
        principal's user; otherwise the ``?user=`` it asked for (None: anonymous)."""
        if self.access.enabled:
            return principal.user
        return requested

    async def present(self, principal: Principal, room: str) -> Present:
        self.access.check_read(principal, room)
        return await self.presence.read(room)

    def _on_presence(self, room: str, joined: list[str], left: list[str]) -> None:
        # May wait up to 50 ms for the room's next flush: in a reconnect storm the joins
        # of a group's members then reach each member in one write, not one per join.
        self.hub.broadcast(room, "presence", {"joined": joined, "left": left}, later=True)

    def typing_notice(self, principal: Principal, room: str, user: str) -> bool:
        """Tell the room's streams ``user`` is typing, at most once a second per user in a
        room; only someone who may write to it. True if it was told."""
        self.access.check_write(principal, room)
        self.moderation.check_muted(room, user)
        assert self._loop is not None
        if not self.typing.allow(room, user, self._loop.time()):
            return False
        self.hub.broadcast(room, "typing", {"user": user})
        self.presence.typing(room, user)
        return True

    def _on_typing(self, room: str, user: str) -> None:
        """Someone typing on another node."""
        self.hub.broadcast(room, "typing", {"user": user})

    async def list_rooms(
        self, principal: Principal, after: str | None, limit: int
    ) -> list[tuple[str, int]]:
        """Up to ``limit`` rooms after ``after`` that ``principal`` may read.

        The store is asked only for the names its token's patterns allow, one range of
        names per pattern (``protocol/tokens.py: name_ranges``), so a token that reads
        three rooms costs three short reads however many rooms there are; a page is
        full whenever more readable rooms follow.
        """
        patterns = principal.read
        if patterns is None:
            with reading_store():
                return await self.store.list_rooms(after, limit)
        readable: list[tuple[str, int]] = []
        for low, high in name_ranges(patterns):
            if after is not None and after >= high:
                continue
            cursor = after if after is not None and after >= low else name_before(low)
            while len(readable) < limit:
                wanted = limit - len(readable)
                with reading_store():
                    rows = await self.store.list_rooms(cursor, wanted, high)
                readable += rows
                if len(rows) < wanted:
                    break
                cursor = rows[-1][0]
            if len(readable) >= limit:
                break
        return readable

    async def healthy(self) -> bool:
        """True while publishes can be taken: not shutting down, store and broker up."""
        if self.closing or not self.broker.healthy():
            return False
        return await self.store.ping()

    async def _heartbeat(self) -> None:
        """Keep-alives for streams; forget idle rooms and idle rate-limit buckets."""
        interval = self.settings.heartbeat
        assert self._loop is not None
        while True:
            await asyncio.sleep(interval / 4)
            now = self._loop.time()
            self.streams.tick(now, interval)
            self.hub.evict_idle(now)
            self.typing.forget_idle(now)
            self.moderation.forget_ended()
            if self.rate_limiter is not None:
                self.rate_limiter.forget_idle(now)


def _nothing() -> None:
    return None


def _released_then(
    release: Callable[[], None], finished: Finished, stream: Stream, reason: str
) -> None:
    release()
    finished(stream, reason)


def _answer_correction(answer: Answer, publish: Publish, done: asyncio.Future[Committed]) -> None:
    """A correction's outcome, told to the :class:`Answer` it was submitted with (a
    refusal other than the protocol's, a store's failure, was logged where it arose)."""
    if done.cancelled():
        return
    error = done.exception()
    if isinstance(error, ProtocolError):
        answer.refused(publish, error)
    elif error is None:
        committed = done.result()
        answer.committed(publish, committed.message, committed.created)
