"""Running an application on a socket: used by ``hubbub serve`` and by the tests."""

from __future__ import annotations

import asyncio
import logging
from types import TracebackType

from hubbub.access_log import close_access_log, open_access_log
from hubbub.app import App, create_app
from hubbub.http.connection import FrontConnection
from hubbub.http.context import ServerContext
from hubbub.http.guard import ConnectionGuard, raise_file_limit
from hubbub.http.listeners import handles_for, open_listeners
from hubbub.node import Node
from hubbub.protocol.forwarded import TrustedProxies, parse_networks
from hubbub.settings import Settings
from hubbub.store import Store


class Server:
    """A listening hubbub server; ``async with Server(settings) as s: s.url``.

    ``port=0`` picks a free port; :attr:`url` tells which one. Routes, request filters
    and answer hooks added to :attr:`app` before :meth:`start` are served with hubbub's.
    """

    def __init__(self, settings: Settings, store: Store | None = None) -> None:
        self.settings = settings
        self.app: App = create_app(settings, store)
        self.host = settings.host
        self.port = settings.port
        self.front: ServerContext | None = None
        self._listeners: list[asyncio.Server] = []
        self._access_log: logging.Logger | None = None
        self._started = False

    @property
    def node(self) -> Node:
        return self.app.node

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        settings = self.settings
        if settings.access_log is not None:
            self._access_log = open_access_log(settings.access_log)
        await self.app.start()
        self._started = True
        file_limit = raise_file_limit()
        guard = ConnectionGuard(
            self.node.stats,
            settings.max_connections,
            settings.max_connections_per_ip,
            file_limit,
            TrustedProxies(parse_networks(",".join(settings.trusted_proxies))),
        )
        loop = asyncio.get_running_loop()
        front = ServerContext(settings, self.node.stats, guard, loop, app=self.app)
        front.host_refusal = self.node.host_refusal
        routes = self.app.routes
        front.request_filters = self.app.request_filters
        front.answer_hooks = self.app.answer_hooks
        front.access_log = self._access_log
        self.front = front

        def connection() -> asyncio.Protocol:
            return FrontConnection(front, routes)

        # Workers of one `serve --workers N` listen on the same port; the kernel spreads
        # new connections over them.
        self._listeners = await open_listeners(
            loop,
            connection,
            settings.host,
            settings.port,
            shared=settings.workers > 1,
            handles=handles_for(file_limit),
        )
        self.port = int(self._listeners[0].sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Stop listening, end streams and polls, close the store. Safe to call twice.

        The node answers every long poll, ends every stream and sends every WebSocket its
        close; then the connections are waited for under one deadline
        (``shutdown_timeout``), and whoever has not answered is cut."""
        listeners, self._listeners = self._listeners, []
        for listener in listeners:
            listener.close()  # no new connections
        if self._started:
            self._started = False
            self.app.begin_shutdown()
            if self.front is not None:
                await self.front.shutdown(self.settings.shutdown_timeout)
            await self.app.stop()
        if self._access_log is not None:
            close_access_log(self._access_log)
            self._access_log = None

    async def __aenter__(self) -> Server:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
