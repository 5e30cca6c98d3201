"""No client can hurt the others: deadlines and connection caps, measured on real sockets."""

from __future__ import annotations

import asyncio
import contextlib
import resource
import sys
import time

import aiohttp
import pytest

from tests.conftest import StartServer
from tests.process import serve
from tests.wire import poll, publish


async def _closed(reader: asyncio.StreamReader, timeout: float) -> bytes:
    """What the server sent before closing the connection (bounded)."""
    async with asyncio.timeout(timeout):
        try:
            return await reader.read()
        except ConnectionError:  # our own later write hit the closed socket
            return b""


async def test_slowloris_is_closed_and_others_are_served(
    start_server: StartServer, http: aiohttp.ClientSession
) -> None:
    """300 connections trickling headers are closed at the deadline; a client keeps being served."""
    server = await start_server(idle_timeout=1.5, store="memory")
    slow: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    for _ in range(300):
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET /rooms HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        slow.append((reader, writer))

    async def trickle() -> None:
        while True:
            for _, writer in slow:
                if not writer.is_closing():
                    writer.write(b"X")
            await asyncio.sleep(0.5)

    trickler = asyncio.get_running_loop().create_task(trickle())
    started = time.monotonic()
    try:
        worst = 0.0
        for n in range(20):  # publish and poll throughout, each bounded
            t0 = time.monotonic()
            await publish(http, server.url, "r", f"m{n}")
            await poll(http, server.url, "r", since=n)
            worst = max(worst, time.monotonic() - t0)
            await asyncio.sleep(0.1)
        assert worst < 5.0  # service, not a timing ratio: each round trip was answered
        answers = await asyncio.gather(*(_closed(reader, 10) for reader, _ in slow))
        assert all(answer == b"" for answer in answers)  # closed without an answer
        assert time.monotonic() - started < 10
    finally:
        trickler.cancel()
        for _, writer in slow:
            writer.close()


async def test_idle_keepalive_connection_is_closed(start_server: StartServer) -> None:
    """After its answer, a connection that sends nothing more is closed at the deadline."""
    server = await start_server(idle_timeout=0.5)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    answer = await _closed(reader, 10)
    assert answer.startswith(b"HTTP/1.1 200")
    writer.close()


async def test_trickled_body_gets_408(start_server: StartServer) -> None:
    """A body that does not arrive within body_timeout is answered 408 and closed."""
    server = await start_server(body_timeout=0.5)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(
        b"POST /rooms/r/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: 40\r\n\r\n{"
    )
    answer = await _closed(reader, 10)
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert b'"request_timeout"' in answer
    writer.close()


async def test_connection_caps_refuse_with_503(
    start_server: StartServer, http: aiohttp.ClientSession
) -> None:
    """Past max_connections a new client gets 503 JSON (a WebSocket too), counted in /metrics."""
    server = await start_server(max_connections=5, max_connections_per_ip=5)
    held = [await asyncio.open_connection("127.0.0.1", server.port) for _ in range(5)]
    async with aiohttp.ClientSession() as fresh:
        async with fresh.get(f"{server.url}/rooms") as resp:
            assert resp.status == 503
            assert (await resp.json())["error"]["code"] == "too_many_connections"
            assert resp.headers["Retry-After"] == "5"
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await fresh.ws_connect(f"{server.url}/rooms/r/messages")
        assert refused.value.status == 503
    for _, writer in held:
        writer.close()
    async with asyncio.timeout(10):
        while server.node.stats.connections_open > 0:
            await asyncio.sleep(0.01)
    async with http.get(f"{server.url}/metrics") as resp:
        text = await resp.text()
    assert 'hubbub_connections_refused_total{reason="max_connections"} 2' in text


async def test_per_address_cap(start_server: StartServer) -> None:
    """max_connections_per_ip refuses one address's extra connections."""
    server = await start_server(max_connections_per_ip=2)
    held = [await asyncio.open_connection("127.0.0.1", server.port) for _ in range(2)]
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GET /rooms HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    answer = await _closed(reader, 10)
    assert answer.startswith(b"HTTP/1.1 503") and b"too_many_connections" in answer
    assert server.node.stats.connections_refused["max_connections_per_ip"] == 1
    for _, w in [*held, (reader, writer)]:
        w.close()


def _low_file_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (200, 200))


async def test_near_the_file_limit_clients_get_503(tmp_path: object) -> None:
    """With a file limit of 200 the server warns at start and refuses with 503, not a reset."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hubbub",
        "serve",
        "--port",
        "0",
        "--store",
        "memory",
        "--max-connections-per-ip",
        "1000",
        stderr=asyncio.subprocess.PIPE,
        preexec_fn=_low_file_limit,
    )
    held: list[asyncio.StreamWriter] = []
    try:
        assert process.stderr is not None
        log = b""
        async with asyncio.timeout(10):
            while b"listening on" not in log:
                log += await process.stderr.readline()
        assert b"file limit (200)" in log
        port = int(log.split(b"listening on http://127.0.0.1:")[1].split()[0])
        answers = []
        for _ in range(190):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            answers.append(reader.readuntil(b"\r\n\r\n"))
            held.append(writer)
        heads = await asyncio.wait_for(asyncio.gather(*answers), 20)
        ok = sum(head.startswith(b"HTTP/1.1 200") for head in heads)
        refused = sum(head.startswith(b"HTTP/1.1 503") for head in heads)
        assert ok == 168 and refused == 22  # 200 less the reserve of 32
    finally:
        for writer in held:
            writer.close()
        process.kill()
        with contextlib.suppress(ProcessLookupError):
            await process.wait()


async def _answer_head(port: int, timeout: float = 5) -> bytes:
    """The status line of a fresh ``GET /healthz``, or what ended it (reset, EOF, hang)."""
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            try:
                writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                return (await reader.readuntil(b"\r\n")).strip()
            finally:
                writer.close()
    except TimeoutError:
        return b"hang"
    except (ConnectionError, asyncio.IncompleteReadError) as error:
        return type(error).__name__.encode()


async def test_at_the_file_limit_idle_clients_cannot_shut_others_out() -> None:
    """Idle connections past the cap (they never send a request) are answered 503 and
    closed at once, so they cannot use up the descriptors kept free: a new client is
    answered (not reset) at every moment, here long before the idle deadline."""
    held: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    flags = ["--store", "memory", "--idle-timeout", "60", "--max-connections-per-ip", "1000"]
    async with serve("--port", "0", *flags, preexec_fn=_low_file_limit) as running:
        port = int(running.url.rsplit(":", 1)[1])
        try:
            for _ in range(260):  # more than the file limit of 200
                held.append(await asyncio.open_connection("127.0.0.1", port))

            async def first_bytes(reader: asyncio.StreamReader) -> bytes:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(2):
                        return await reader.read(12)
                return b"nothing"

            # The refused ones were answered without asking; the others wait.
            firsts = await asyncio.gather(*(first_bytes(reader) for reader, _ in held))
            assert firsts.count(b"HTTP/1.1 503") == 260 - 168, str(firsts)
            assert firsts.count(b"nothing") == 168
            for _ in range(3):
                assert await _answer_head(port) == b"HTTP/1.1 503 Service Unavailable"
        finally:
            for _, writer in held:
                writer.close()


async def test_one_address_cannot_hold_every_slot_by_default(start_server: StartServer) -> None:
    """With no per-address cap given, one address may hold a tenth of the connections:
    SSE streams (exempt from the idle deadline) from one address cannot shut out another."""
    server = await start_server(max_connections=50, store="memory")
    streams: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    request = (
        b"GET /rooms/r/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n"
    )
    try:
        statuses = []
        for _ in range(50):
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(request)
            streams.append((reader, writer))
            statuses.append((await asyncio.wait_for(reader.readuntil(b"\r\n"), 10)).strip())
        assert statuses.count(b"HTTP/1.1 200 OK") == 5  # a tenth of 50
        assert statuses.count(b"HTTP/1.1 503 Service Unavailable") == 45
        # Another address is still served.
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", server.port, local_addr=("127.0.0.2", 0)
        )
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert (await asyncio.wait_for(reader.readuntil(b"\r\n"), 10)).startswith(b"HTTP/1.1 200")
        writer.close()
    finally:
        for _, writer in streams:
            writer.close()
