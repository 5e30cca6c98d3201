"""Client addresses behind a reverse proxy (--trusted-proxy), on real sockets, both paths.

The test client connects from 127.0.0.1, so a server trusting 127.0.0.0/8 sees it as a
proxy, and one trusting only 10.0.0.0/8 sees it as a client whose headers are ignored.
"""

from __future__ import annotations

import logging

import aiohttp
import pytest

from hubbub.server import Server
from tests.conftest import StartServer
from tests.rawhttp import RawClient, publish, request

TRUSTED = ("127.0.0.0/8",)
ELSEWHERE = ("10.0.0.0/8",)
# A hot route (polls) and a cold one (the room list).
PATHS = ["/rooms/r/messages", "/rooms"]


async def _held(server: Server, path: str, *headers: str) -> tuple[RawClient, int]:
    """A keep-alive connection whose one request was answered; the answer's status."""
    client = await RawClient.open(server.port)
    client.send(request("GET", path, *headers))
    return client, (await client.answer()).status


@pytest.mark.parametrize("path", PATHS)
async def test_per_address_cap_counts_forwarded_clients(
    start_server: StartServer, path: str
) -> None:
    """From a trusted proxy, each client has its own per-address cap; one over it gets 503."""
    server = await start_server(max_connections_per_ip=2, trusted_proxies=TRUSTED)
    clients = []
    for address in ("198.51.100.1", "198.51.100.2", "198.51.100.3", "198.51.100.1"):
        client, status = await _held(server, path, f"X-Forwarded-For: {address}")
        assert status == 200
        clients.append(client)
    over, status = await _held(server, path, "X-Forwarded-For: 6.6.6.6, 198.51.100.1")
    assert status == 503
    assert await over.rest() == b""  # closed after the answer
    assert server.node.stats.connections_refused["max_connections_per_ip"] == 1
    for client in clients:
        client.close()


@pytest.mark.parametrize("path", PATHS)
async def test_forwarded_for_is_ignored_from_an_untrusted_peer(
    start_server: StartServer, path: str
) -> None:
    """From a peer not in --trusted-proxy, the headers change nothing: one address, one cap."""
    server = await start_server(max_connections_per_ip=2, trusted_proxies=ELSEWHERE)
    first, _ = await _held(server, path, "X-Forwarded-For: 198.51.100.1")
    second, _ = await _held(server, path, "X-Real-IP: 198.51.100.2")
    third = await RawClient.open(server.port)
    third.send(request("GET", path, "X-Forwarded-For: 198.51.100.3"))
    assert (await third.answer()).status == 503
    for client in (first, second, third):
        client.close()


@pytest.mark.parametrize(("trusted", "accepted"), [(TRUSTED, 4), (ELSEWHERE, 1)])
async def test_rate_limit_buckets_per_forwarded_client(
    start_server: StartServer, trusted: tuple[str, ...], accepted: int
) -> None:
    """Anonymous publishes are limited per client: behind a trusted proxy four clients get
    four buckets; from an untrusted peer their headers are ignored and they share one."""
    server = await start_server(rate_limit=1.0, rate_burst=1, trusted_proxies=trusted)
    statuses = []
    for n in range(4):
        client = await RawClient.open(server.port)
        client.send(publish("r", f"m{n}", f"X-Real-IP: 198.51.100.{n + 1}"))
        statuses.append((await client.answer()).status)
        client.close()
    assert statuses.count(201) == accepted
    assert statuses.count(429) == 4 - accepted


async def test_websockets_count_under_the_forwarded_client(start_server: StartServer) -> None:
    """A lean WebSocket and a /ws multiplex from a trusted proxy hold their client's places."""
    server = await start_server(max_connections_per_ip=2, trusted_proxies=TRUSTED)
    forwarded = {"X-Forwarded-For": "198.51.100.9"}
    async with aiohttp.ClientSession() as session:
        room = await session.ws_connect(f"{server.url}/rooms/r/messages", headers=forwarded)
        multiplex = await session.ws_connect(f"{server.url}/ws", headers=forwarded)
        other = await session.ws_connect(
            f"{server.url}/ws", headers={"X-Forwarded-For": "198.51.100.10"}
        )
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(f"{server.url}/rooms/r/messages", headers=forwarded)
        assert refused.value.status == 503
        for socket in (room, multiplex, other):
            await socket.close()


async def test_refusal_log_names_the_per_address_cap_and_client(
    start_server: StartServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The refusal's log line names the cap that was met (2 per address, not the global
    10000) and the forwarded client's address, not the proxy's."""
    server = await start_server(max_connections_per_ip=1, trusted_proxies=TRUSTED)
    held, _ = await _held(server, "/rooms/r/messages", "X-Forwarded-For: 198.51.100.5")
    with caplog.at_level(logging.WARNING, logger="hubbub"):
        over, status = await _held(server, "/rooms/r/messages", "X-Forwarded-For: 198.51.100.5")
    assert status == 503
    lines = [r.getMessage() for r in caplog.records if "refusing connections" in r.getMessage()]
    assert len(lines) == 1
    assert "max_connections_per_ip; 1 open from 198.51.100.5, limit 1" in lines[0]
    assert "10000" not in lines[0] and "127.0.0.1" not in lines[0]
    held.close()
    over.close()
