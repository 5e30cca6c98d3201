"""Shared fixtures: real hubbub servers on port 0, real SQLite files."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import uvloop

from hubbub.server import Server
from hubbub.settings import Settings
from tests.redis_server import RedisServer, running_redis

StartServer = Callable[..., Awaitable[Server]]


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]]:
    """Tests run on uvloop, the loop ``hubbub serve`` runs on."""
    return {"uvloop": uvloop.new_event_loop}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Test settings: a fresh SQLite file and port 0.

    The heartbeat is 5 s, not 15: long enough that a test client holding a
    WebSocket without reading (aiohttp answers pings only inside receive())
    is never dropped on a loaded machine. Tests of heartbeats set their own.
    """
    return Settings(port=0, db=str(tmp_path / "hubbub.db"), heartbeat=5.0, shutdown_timeout=2.0)


@pytest.fixture
async def start_server(settings: Settings) -> AsyncIterator[StartServer]:
    """Start servers with ``await start_server(**overrides)``; all are stopped after the test."""
    servers: list[Server] = []

    async def start(**overrides: Any) -> Server:
        server = Server(replace(settings, **overrides))
        await server.start()
        servers.append(server)
        return server

    yield start
    for server in reversed(servers):
        await server.stop()


@pytest.fixture
async def server(start_server: StartServer) -> Server:
    """One server with the default test settings."""
    return await start_server()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A client that opens each request's connection anew (``Connection: close``), so
    that what a test counts on the server is this request's alone."""
    timeout = aiohttp.ClientTimeout(total=20)
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        yield session


@pytest.fixture
async def redis(tmp_path: Path) -> AsyncIterator[RedisServer]:
    """A real redis-server of its own for the test, stopped (by its pid) after it."""
    async with running_redis(tmp_path / "redis") as started:
        yield started
