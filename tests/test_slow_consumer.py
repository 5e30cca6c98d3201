"""Slow consumers: bounded memory, closed past the outbox limit, others unaffected."""

from __future__ import annotations

import asyncio
import base64
import os
import socket

import aiohttp
import pytest

from hubbub.server import Server
from tests.conftest import StartServer
from tests.wire import SSEReader, wait_live, ws_json

TEXT = "x" * 40_000


def kernel_send_buffer_max() -> int:
    """The most a socket's kernel send buffer can grow to (Linux autotuning)."""
    try:
        with open("/proc/sys/net/ipv4/tcp_wmem") as wmem:
            return int(wmem.read().split()[2])
    except (OSError, ValueError, IndexError):
        return 4 * 1024 * 1024


# Enough to fill the kernel's buffers and then pass the 64 KiB outbox limit by 2 MB.
COUNT = (kernel_send_buffer_max() + 2 * 1024 * 1024) // len(TEXT) + 1


async def open_stalled(server: Server, transport: str) -> socket.socket:
    """A subscriber that sends its request, reads the response head, then never reads."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, ("127.0.0.1", server.port))
    if transport == "websocket":
        key = base64.b64encode(os.urandom(16)).decode()
        extra = f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        extra += "Sec-WebSocket-Version: 13\r\n"
    else:
        extra = "Accept: text/event-stream\r\n"
    request = f"GET /rooms/r/messages HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}\r\n"
    await loop.sock_sendall(sock, request.encode())
    head = b""
    async with asyncio.timeout(10):
        while b"\r\n\r\n" not in head:
            head += await loop.sock_recv(sock, 1)
    assert head.split(b" ")[1] in (b"101", b"200"), head
    return sock


async def publish_many(http: aiohttp.ClientSession, url: str, count: int) -> None:
    """``count`` big publishes, eight at a time (ids are assigned in commit order)."""
    gate = asyncio.Semaphore(8)

    async def one() -> None:
        async with gate, http.post(url, json={"user": "a", "text": TEXT}) as resp:
            assert resp.status == 201

    await asyncio.gather(*(one() for _ in range(count)))


@pytest.mark.parametrize("transport", ["websocket", "sse"])
async def test_stalled_subscriber_is_closed_and_others_get_everything(
    start_server: StartServer, http: aiohttp.ClientSession, transport: str
) -> None:
    """The stalled stream is dropped at the limit; a reading one receives all, in order."""
    server = await start_server(
        outbox_limit=64 * 1024, max_text=50_000, max_body=100_000, heartbeat=30
    )
    stalled = await open_stalled(server, transport)
    try:
        async with http.ws_connect(f"{server.url}/rooms/r/messages") as fast:
            await wait_live(server, "r", 2)

            async def receive_all() -> list[int]:
                return [(await ws_json(fast))["message"]["id"] for _ in range(COUNT)]

            receiving = asyncio.create_task(receive_all())
            await publish_many(http, f"{server.url}/rooms/r/messages", COUNT)
            assert await asyncio.wait_for(receiving, 30) == list(range(1, COUNT + 1))
            assert server.node.stats.slow_consumers_dropped == 1
            await wait_live(server, "r", 1)
    finally:
        stalled.close()


async def test_sse_reconnect_after_drop_loses_nothing(
    start_server: StartServer, http: aiohttp.ClientSession
) -> None:
    """After being dropped, resuming from the last id seen yields the rest of the room."""
    server = await start_server(
        outbox_limit=64 * 1024, max_text=50_000, max_body=100_000, heartbeat=30
    )
    stalled = await open_stalled(server, "sse")
    stalled.close()  # its cursor was 0: it saw nothing
    url = f"{server.url}/rooms/r/messages"
    await publish_many(http, url, 20)
    headers = {"Accept": "text/event-stream", "Last-Event-ID": "0"}
    async with http.get(url, headers=headers) as response:
        stream = SSEReader(response)
        ids = [(await stream.next_event()).position for _ in range(20)]
    assert ids == list(range(1, 21))
