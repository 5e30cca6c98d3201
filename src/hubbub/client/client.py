"""``Client``: publish to, read and follow the rooms of one hubbub server."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Callable
from ssl import SSLContext
from types import TracebackType

import aiohttp
import orjson
from yarl import URL

from hubbub.client.backoff import Backoff
from hubbub.client.errors import ClientError, Refused, Unreachable
from hubbub.client.events import Page, TransportChoice, parse_message
from hubbub.client.http import JSON, Link, Options, Params, get_page, loads, refusal
from hubbub.client.search import SearchPage, parse_search_page
from hubbub.client.subscription import EphemeralCallback, StatusCallback, Subscription
from hubbub.errors import InvalidRoom
from hubbub.protocol.cursors import EPOCH
from hubbub.protocol.messages import Message, validate_room

RetryCallback = Callable[[ClientError, float], None]


def new_client_id() -> str:
    """A fresh ``client_id``: 96 random bits, the same shape as the browser client's."""
    return "c-" + secrets.token_hex(12)


def check_room(room: str) -> str:
    """``room`` if it is a legal room name (docs/protocol.md, Rooms), else ``ValueError``."""
    try:
        return validate_room(room)
    except InvalidRoom as exc:
        raise ValueError(f"invalid room name {room!r}: {exc}") from None


class Client:
    """The client of one hubbub server, over aiohttp.

    Use it as an async context manager (or call :meth:`close`)::

        async with Client("http://127.0.0.1:8000") as client:
            await client.publish("general", "alice", "hello")
            async for event in client.subscribe("general", since=0):
                print(event)

    Keyword settings, grouped by concern:

    - Timeouts: ``connect_timeout`` to open a connection or stream;
      ``request_timeout`` for a publish or a read; ``idle_timeout``, how long a
      stream may stay silent (no message, no heartbeat) before it is taken for
      dead and reconnected. Keep it above the server's ``heartbeat`` (default 15 s).
    - Reading: ``long_poll_wait``, how long a long poll may be held (0 to 60 s);
      ``poll_interval``, the short poll period.
    - Reconnecting: ``backoff``, the delays between tries.

    ``session`` is an aiohttp session to use instead of the client's own (it is then
    not closed by :meth:`close`). The client's own opens each WebSocket on a connection
    of its own; a session passed in is used for WebSockets too.

    ``ssl`` is how an ``https://`` server's certificate is checked: None (the
    default) against the system's CAs (``SSL_CERT_FILE`` and ``SSL_CERT_DIR`` are
    honoured), an :class:`ssl.SSLContext` (``ssl.create_default_context(cafile=...)``
    for a private CA), or False to check nothing (a test server only). It applies to
    the client's own session; a ``session`` passed in keeps its own. A certificate that
    is not trusted raises :class:`~hubbub.client.errors.UntrustedCertificate`.

    ``token`` is an access token for a server with access control on; it goes in
    the ``Authorization`` header of every request (never in a URL). The server then
    stamps the token's user on what this client publishes, so ``publish`` may
    leave ``user`` as None.
    """

    def __init__(
        self,
        base_url: str,
        *,
        session: aiohttp.ClientSession | None = None,
        token: str | None = None,
        ssl: SSLContext | bool | None = None,
        # Timeouts
        connect_timeout: float = 10.0,
        request_timeout: float = 30.0,
        idle_timeout: float = 45.0,
        # Reading
        long_poll_wait: float = 25.0,
        poll_interval: float = 2.0,
        # Reconnecting
        backoff: Backoff | None = None,
        # Presence
        presence_user: str | None = None,
    ) -> None:
        url = URL(base_url)
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError(f"not an http:// or https:// URL: {base_url!r}")
        self.base_url = url
        self.options = Options(
            connect_timeout=connect_timeout,
            request_timeout=request_timeout,
            idle_timeout=idle_timeout,
            long_poll_wait=long_poll_wait,
            poll_interval=poll_interval,
            backoff=backoff or Backoff(),
            presence_user=presence_user,
        )
        self._auth = {} if token is None else {"Authorization": f"Bearer {token}"}
        if ssl is True:
            ssl = None  # aiohttp's default: checked against the system's CAs
        self._ssl = ssl
        self._session = session
        self._owns_session = session is None
        self._sockets: aiohttp.ClientSession | None = None
        self._closed = False

    def _link(self) -> Link:
        if self._closed:
            raise RuntimeError("this hubbub Client is closed")
        # The session is made on first use, inside the running event loop.
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=self.options.connect_timeout)
        if self._session is None:
            connector = None if self._ssl is None else aiohttp.TCPConnector(ssl=self._ssl)
            self._session = aiohttp.ClientSession(connector=connector, timeout=timeout)
        if self._sockets is None and self._owns_session:
            self._sockets = aiohttp.ClientSession(
                connector=self._fresh_connector(), timeout=timeout
            )
        return Link(self._session, self.base_url, self.options, self._auth, self._sockets)

    def _fresh_connector(self) -> aiohttp.TCPConnector:
        """Connections used once: each WebSocket handshake goes on a connection of its own."""
        if self._ssl is None:
            return aiohttp.TCPConnector(force_close=True)
        return aiohttp.TCPConnector(force_close=True, ssl=self._ssl)

    async def close(self) -> None:
        """Close the client's own session and with it every connection it holds."""
        self._closed = True
        if self._owns_session and self._session is not None:
            await self._session.close()
        if self._sockets is not None:
            await self._sockets.close()
        self._session = self._sockets = None

    async def __aenter__(self) -> Client:
        self._link()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # Publishing

    async def publish(
        self,
        room: str,
        user: str | None,
        text: str,
        client_id: str | None = None,
        *,
        retry_for: float | None = 0.0,
        on_retry: RetryCallback | None = None,
    ) -> Message:
        """Append a message to ``room``; returns it as stored, with its ``id`` and ``ts``.

        Every publish carries a ``client_id`` (a fresh one unless given), which makes
        it idempotent: sent again, the server answers with the message it stored the
        first time and stores nothing new. So a publish whose answer was lost can be
        retried without doubling it. ``retry_for`` is how many seconds to keep
        retrying when the server cannot be reached, is busy (429, honouring
        ``Retry-After``) or unavailable (5xx); ``None`` retries until it succeeds.
        ``on_retry(error, delay)`` is called before each wait. ``user`` None sends
        no user: a server with access control stores the token's.

        Raises :class:`Refused` when the server refuses the message (a 4xx, say
        ``invalid_message``), :class:`Unreachable` when it could not be reached in time.
        """
        check_room(room)
        cid = client_id if client_id is not None else new_client_id()
        fields = {"text": text, "client_id": cid}
        if user is not None:
            fields["user"] = user
        body = orjson.dumps(fields)
        link = self._link()
        loop = asyncio.get_running_loop()
        deadline = None if retry_for is None else loop.time() + retry_for
        attempt = 0
        while True:
            try:
                return await self._post(link, room, body)
            except (Refused, Unreachable) as exc:
                if isinstance(exc, Refused) and not exc.retryable:
                    raise
                delay = self.options.backoff.delay(attempt)
                if isinstance(exc, Refused) and exc.retry_after is not None:
                    delay = max(delay, exc.retry_after)
                if deadline is not None and loop.time() + delay > deadline:
                    raise
                attempt += 1
                if on_retry is not None:
                    on_retry(exc, delay)
                await asyncio.sleep(delay)

    async def _post(self, link: Link, room: str, body: bytes) -> Message:
        headers = link.headers({"Content-Type": JSON, "Accept": JSON})
        try:
            async with (
                asyncio.timeout(self.options.request_timeout),
                link.session.post(link.messages_url(room), data=body, headers=headers) as response,
            ):
                if response.status not in (200, 201):
                    raise await refusal(response)
                data = await response.read()
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise link.unreachable(exc) from exc
        return parse_message(loads(data))

    # Reading

    async def history(
        self,
        room: str,
        *,
        limit: int = 100,
        before: int | None = None,
        since: int | None = None,
    ) -> Page:
        """One read of ``room`` (a short poll), oldest message first.

        By default the newest ``limit`` messages; with ``before=N`` the newest
        ``limit`` below id N (scrolling back); with ``since=N`` the oldest ``limit``
        after N. The page's ``first_id``/``last_id`` tell what the room keeps.
        """
        check_room(room)
        if before is not None and since is not None:
            raise ValueError("give before or since, not both")
        params: dict[str, str | int | float] = {"limit": limit}
        if before is not None:
            params["before"] = before
        if since is not None:
            params["since"] = since
        return await self._read(room, params)

    async def search(
        self,
        query: str,
        room: str | None = None,
        *,
        rooms: list[str] | None = None,
        limit: int = 20,
        before: int | None = None,
        next: str | None = None,
    ) -> SearchPage:
        """Messages matching ``query`` (docs/protocol.md, *Search*), newest first.

        In ``room``, paged with ``before`` (the previous page's ``before``); without a
        room, across every room the token may read (or ``rooms``), paged with ``next``.
        A refused query raises ``Refused`` (``invalid_query`` says why).
        """
        params: dict[str, str | int | float] = {"q": query, "limit": limit}
        if room is not None:
            check_room(room)
            if rooms is not None or next is not None:
                raise ValueError("rooms and next go with a search across rooms, not in one")
            if before is not None:
                params["before"] = before
            url = self._link().base.joinpath("rooms", room, "search")
        else:
            if before is not None:
                raise ValueError("before goes with a search in one room; across rooms: next")
            if rooms is not None:
                params["rooms"] = ",".join(check_room(name) for name in rooms)
            if next is not None:
                params["next"] = next
            url = self._link().base.joinpath("search")
        link = self._link()
        try:
            async with asyncio.timeout(self.options.request_timeout):
                async with link.session.get(
                    url, params=params, headers=link.headers({"Accept": JSON})
                ) as response:
                    if response.status != 200:
                        raise await refusal(response)
                    body = loads(await response.read())
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise link.unreachable(exc) from exc
        return parse_search_page(body)

    async def presence(self, room: str) -> list[tuple[str, int]]:
        """Who is in ``room``: ``(user, connections)`` by name; anonymous ones as ``("", N)``."""
        check_room(room)
        link = self._link()
        url = link.base.joinpath("rooms", room, "presence")
        try:
            async with asyncio.timeout(self.options.request_timeout):
                async with link.session.get(url) as response:
                    if response.status != 200:
                        raise await refusal(response)
                    body = loads(await response.read())
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise link.unreachable(exc) from exc
        present = [(entry["user"], entry["connections"]) for entry in body["users"]]
        if body["anonymous"]:
            present.append(("", body["anonymous"]))
        return present

    async def typing(self, room: str, user: str) -> None:
        """Tell ``room`` that ``user`` is typing; a notice that does not arrive is dropped."""
        check_room(room)
        link = self._link()
        url = link.base.joinpath("rooms", room, "typing")
        with contextlib.suppress(aiohttp.ClientError, TimeoutError, OSError):
            async with asyncio.timeout(self.options.request_timeout):
                async with link.session.post(url, json={"user": user}) as response:
                    await response.read()

    async def _read(self, room: str, params: Params) -> Page:
        return await get_page(self._link(), room, params, patience=self.options.request_timeout)

    def subscribe(
        self,
        room: str,
        since: int | None = None,
        transport: TransportChoice = "auto",
        *,
        epoch: str | None = None,
        on_status: StatusCallback | None = None,
        on_event: EphemeralCallback | None = None,
    ) -> Subscription:
        """Follow ``room``: an async iterator of :class:`Message` and :class:`Gap`.

        ``since=N`` starts with the first message after id N (the protocol's cursor;
        0 is everything the room keeps); ``None`` with the next message published.
        ``epoch`` is the epoch ``N`` was read in (a subscription's :attr:`~Subscription.epoch`):
        if the room's log has started over since, the subscription begins with a
        reset :class:`Gap`, then the new log from its start.
        It reconnects by itself, with backoff, from the last id it yielded, so
        nothing is lost or repeated; ids that the room no longer has are reported
        as a :class:`Gap`. ``transport`` picks one transport, or ``auto`` tries
        WebSocket, SSE, long poll and short poll in that order, falling back when
        one does not work. ``on_status`` is called with :class:`Connected` and
        :class:`Disconnected` as the connection comes and goes. ``on_event`` is called
        with :class:`PresenceChange` and :class:`TypingNotice` as they arrive (over
        WebSocket and SSE; never yielded, never moving the cursor).
        """
        check_room(room)
        if since is not None and (isinstance(since, bool) or not since >= 0):
            raise ValueError("since is a whole number >= 0")
        if epoch is not None:
            if since is None:
                raise ValueError("epoch is the epoch of a cursor: give since with it")
            if not isinstance(epoch, str) or EPOCH.fullmatch(epoch) is None:
                raise ValueError("epoch must be 1 to 64 characters of A-Z a-z 0-9 _ -")
        return Subscription(
            self._link, self.options.backoff, room, since, transport, on_status, epoch, on_event
        )
