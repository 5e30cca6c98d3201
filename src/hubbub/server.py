"""Running an application on a socket: used by ``hubbub serve`` and by the tests."""

from __future__ import annotations

from types import TracebackType
from typing import Any

from aiohttp import web

from hubbub.access_log import JsonAccessLogger, close_access_log, open_access_log
from hubbub.app import OWN_MIDDLEWARES, OWN_RESPONSE_HOOKS, create_app
from hubbub.connections import GuardedSite
from hubbub.guard import ConnectionGuard, raise_file_limit
from hubbub.node import Node
from hubbub.protocol.forwarded import TrustedProxies, parse_networks
from hubbub.settings import Settings
from hubbub.store import Store
from hubbub.transports.http import NODE

# After stop()'s deadline: what aiohttp waits for a handler still running (a request
# body still arriving, say), then as long again after cancelling it.
SHUTDOWN_GRACE = 0.25


class Server:
    """A listening hubbub server; ``async with Server(settings) as s: s.url``.

    ``port=0`` picks a free port; :attr:`url` tells which one.
    """

    def __init__(self, settings: Settings, store: Store | None = None) -> None:
        self.settings = settings
        self.app = create_app(settings, store)
        # What each connection's handler is built with (connections.GuardedSite).
        self._handler_kwargs: dict[str, Any] = {
            "lingering_time": settings.lingering_time,
            # Also the deadline for a request head (see connections.py).
            "keepalive_timeout": settings.idle_timeout,
            "access_log": None,
        }
        self._runner = web.AppRunner(
            self.app,
            # A long poll whose client vanished is cancelled at once, so its
            # waiter is released instead of lingering until its timeout.
            handler_cancellation=True,
            shutdown_timeout=SHUTDOWN_GRACE,
            **self._handler_kwargs,
        )
        self.host = settings.host
        self.port = settings.port
        self._site: GuardedSite | None = None

    @property
    def node(self) -> Node:
        return self.app[NODE]

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        settings = self.settings
        if settings.access_log is not None:
            # aiohttp builds each connection's handler with these (GuardedSite too).
            self._handler_kwargs["access_log"] = open_access_log(settings.access_log)
            self._handler_kwargs["access_log_class"] = JsonAccessLogger
        await self._runner.setup()
        guard = ConnectionGuard(
            self.node.stats,
            settings.max_connections,
            settings.max_connections_per_ip,
            raise_file_limit(),
            TrustedProxies(parse_networks(",".join(settings.trusted_proxies))),
        )
        site = GuardedSite(
            self._runner,
            settings.host,
            settings.port,
            guard,
            self._handler_kwargs,
            backlog=4096,
            # Workers of one `serve --workers N` listen on the same port; the kernel
            # spreads new connections over them.
            reuse_port=settings.workers > 1 or None,
            node=self.node,
            lean=self._lean_http(),
        )
        await site.start()
        self._site = site  # started: stop() stops it
        self.port = site.port

    def _lean_http(self) -> bool:
        """The lean path serves polls, publishes and streams, unless it is turned off or
        an embedding application added a middleware or an ``on_response_prepare`` hook,
        which must see every request and every answer (docs/design.md, Embedding)."""
        app = self.app
        return (
            self.settings.lean_http
            and len(app.middlewares) == app[OWN_MIDDLEWARES]
            and len(app.on_response_prepare) == app[OWN_RESPONSE_HOOKS]
        )

    async def stop(self) -> None:
        """Stop listening, end streams and polls, close the store. Safe to call twice.

        Before aiohttp's own shutdown, which drops what its connections receive from then
        on: the node answers every long poll, ends every stream and sends every WebSocket
        its close, then the front's connections (every WebSocket is the front's) are
        waited for under one deadline (``shutdown_timeout``), and whoever has not
        answered is cut.
        """
        if self._runner.server is not None:
            site, self._site = self._site, None
            if site is not None:
                await site.stop()  # no new connections
                # The on_shutdown hooks (node.begin_shutdown, the tutorial lobby's):
                # aiohttp's cleanup runs them again, which finds nothing left to do.
                await self.app.shutdown()
                timeout = self.settings.shutdown_timeout
                if site.front is not None:
                    await site.front.shutdown(timeout)
            await self._runner.cleanup()
        access_log = self._handler_kwargs.get("access_log")
        if access_log is not None:
            close_access_log(access_log)

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
