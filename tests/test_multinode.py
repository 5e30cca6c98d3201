"""Several ``hubbub serve`` processes on one Redis: every promise of one node, across nodes.

Each test starts real processes (tests/process.py) on a real redis-server with the
append-only file fsynced on every write (tests/redis_server.py), and real clients on every
transport (tests/cluster.py) that resume on another node whenever their stream ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import aiohttp
import pytest

from tests.cluster import (
    TRANSPORTS,
    Publisher,
    Subscriber,
    healthz,
    last_acked,
    read_log,
    until_health,
)
from tests.process import ServeProcess, serve
from tests.redis_server import RedisServer, needs_redis, running_redis

pytestmark = needs_redis


@contextlib.asynccontextmanager
async def nodes(count: int, *args: str) -> AsyncIterator[list[ServeProcess]]:
    """``count`` hubbub processes started with ``args``, stopped (by pid) at the end."""
    async with contextlib.AsyncExitStack() as stack:
        started = [
            await stack.enter_async_context(serve("--port", "0", *args)) for _ in range(count)
        ]
        yield started


def redis_args(redis: RedisServer) -> tuple[str, ...]:
    return ("--store", "redis", "--redis", redis.url)


@contextlib.asynccontextmanager
async def subscribers(
    http: aiohttp.ClientSession, urls: Sequence[str], room: str
) -> AsyncIterator[list[Subscriber]]:
    """One subscriber per transport per node, each starting on its node."""
    started = [
        Subscriber(http, kind, urls, room, start=node).begin()
        for node in range(len(urls))
        for kind in TRANSPORTS
    ]
    try:
        yield started
    finally:
        for subscriber in started:
            await subscriber.close()


async def complete(subs: Sequence[Subscriber], epoch: str, last_id: int) -> None:
    await asyncio.gather(*(s.until(epoch, last_id) for s in subs))


def acknowledged(publishers: Sequence[Publisher]) -> dict[str, dict[str, object]]:
    return {cid: message for p in publishers for cid, (_, message) in p.acked.items()}


def check_log(log: dict[str, object], publishers: Sequence[Publisher]) -> None:
    """Ids 1..N gapless; every acknowledged message stored once, as acknowledged."""
    messages = log["messages"]
    assert isinstance(messages, list)
    assert [m["id"] for m in messages] == list(range(1, len(messages) + 1))
    by_client_id = {m["client_id"]: m for m in messages}
    assert len(by_client_id) == len(messages), "a client_id stored twice"
    for client_id, message in acknowledged(publishers).items():
        assert by_client_id[client_id] == message


def check_subscribers(subs: Sequence[Subscriber], log: dict[str, object]) -> None:
    """Every subscriber got every message of the log once, in order, and was told no gap."""
    messages = log["messages"]
    assert isinstance(messages, list)
    epoch = log["epoch"]
    assert isinstance(epoch, str)
    for sub in subs:
        assert sub.gaps() == [], (sub.kind, sub.gaps())
        assert sub.ids() == [m["id"] for m in messages], sub.kind
        assert all(sub.texts[(epoch, m["id"])] == m["text"] for m in messages), sub.kind


async def test_three_nodes_share_rooms_on_every_transport(
    redis: RedisServer, http: aiohttp.ClientSession
) -> None:
    """Publishers on every node at once; subscribers on every transport on every node get
    every message once, in order; ids are gapless; a client_id retry on another node is 200."""
    async with nodes(3, *redis_args(redis)) as servers:
        urls = [s.url for s in servers]
        async with subscribers(http, urls, "r") as subs:
            publishers = [Publisher(http, urls, "r", f"p{n}", 30, start=n) for n in range(3)]
            await asyncio.gather(*(p.run() for p in publishers))
            log = await read_log(http, urls[0], "r", through=last_acked(*publishers))
            assert len(log["messages"]) == 90
            check_log(log, publishers)
            await complete(subs, log["epoch"], 90)
            check_subscribers(subs, log)
            assert all(p.refused == [] for p in publishers)
        # A retry on each other node is answered 200 with the original, and stores nothing.
        status, original = publishers[0].acked["p0-7"]
        assert status == 201
        for url in urls[1:]:
            body = {"user": "p0", "text": "changed", "client_id": "p0-7"}
            async with http.post(f"{url}/rooms/r/messages", json=body) as response:
                assert response.status == 200
                assert await response.json() == original
        assert len((await read_log(http, urls[2], "r"))["messages"]) == 90


@pytest.mark.slow
async def test_kill_9_of_a_node_its_clients_resume_on_another(
    redis: RedisServer, http: aiohttp.ClientSession
) -> None:
    """kill -9 of the node clients and publishers started on: they resume on the others,
    nothing acknowledged is lost, nothing is stored or delivered twice."""
    async with nodes(3, *redis_args(redis)) as servers:
        urls = [s.url for s in servers]
        async with subscribers(http, urls[:1], "r") as on_first:
            subs = [
                *on_first,
                *(Subscriber(http, kind, urls, "r").begin() for kind in TRANSPORTS),
            ]
            publishers = [Publisher(http, urls, "r", f"p{n}", 40) for n in range(2)]
            running = asyncio.gather(*(p.run(pause=0.005) for p in publishers))
            async with asyncio.timeout(30):
                while sum(len(p.acked) for p in publishers) < 20:
                    await asyncio.sleep(0.01)
            servers[0].process.send_signal(signal.SIGKILL)
            await running
            for sub in on_first:  # they now follow the room from nodes 2 and 3
                sub.urls = urls[1:]
            log = await read_log(http, urls[1], "r", through=last_acked(*publishers))
            check_log(log, publishers)
            assert len(log["messages"]) == 80
            await complete(subs, log["epoch"], 80)
            check_subscribers(subs, log)
            for sub in subs[3:]:
                await sub.close()
        assert any(p.refused for p in publishers)  # they did meet the dead node


@pytest.mark.slow
async def test_redis_stopped_then_restarted(
    redis: RedisServer, http: aiohttp.ClientSession
) -> None:
    """Redis killed for a while: publishes get 503 (never a false 201), /healthz 503; Redis
    back: nodes reconnect by themselves, streams resume, nothing lost, nothing twice."""
    async with nodes(3, *redis_args(redis)) as servers:
        urls = [s.url for s in servers]
        async with subscribers(http, urls, "r") as subs:
            before = Publisher(http, urls, "r", "before", 10)
            await before.run()
            await complete(subs, (await read_log(http, urls[0], "r"))["epoch"], 10)
            await redis.stop(kill=True)
            for url in urls:
                await until_health(http, url, 503)
            body = {"user": "x", "text": "during", "client_id": "during"}
            async with http.post(f"{urls[1]}/rooms/r/messages", json=body) as response:
                assert response.status == 503
            during = Publisher(http, urls, "r", "during", 20)
            publishing = asyncio.create_task(during.run())
            async with asyncio.timeout(30):
                while len(during.refused) < 6:
                    await asyncio.sleep(0.01)
            assert during.acked == {}  # nothing acknowledged while Redis is down
            assert set(during.refused) == {503}
            await redis.start()
            await publishing
            for url in urls:
                await until_health(http, url, 200)
            log = await read_log(http, urls[2], "r", through=last_acked(before, during))
            check_log(log, [before, during])
            assert len(log["messages"]) == 30
            await complete(subs, log["epoch"], 30)
            check_subscribers(subs, log)


async def kill_pubsub(redis: RedisServer) -> int:
    """CLIENT KILL TYPE pubsub: how many subscriber connections Redis closed."""
    killed = await redis.command("CLIENT", "KILL", "TYPE", "pubsub")
    assert isinstance(killed, int)
    return killed


async def until_subscribed(redis: RedisServer, nodes: int) -> None:
    """Until ``nodes`` brokers, presences, moderation notices and operations-page samples
    listen on Redis again (bounded)."""
    async with asyncio.timeout(30):
        while True:
            reply = await redis.command(
                "PUBSUB",
                "NUMSUB",
                "hubbub:heartbeat",
                "hubbub:presence:heartbeat",
                "hubbub:moderation",
                "hubbub:ops:samples",
            )
            assert isinstance(reply, list)
            if reply[1] == reply[3] == reply[5] == reply[7] == nodes:
                return
            await asyncio.sleep(0.01)


@pytest.mark.slow
async def test_killed_broker_connections_lose_nothing(
    redis: RedisServer, http: aiohttp.ClientSession
) -> None:
    """CLIENT KILL TYPE pubsub while publishing: every subscriber still gets every message."""
    async with nodes(3, *redis_args(redis)) as servers:
        urls = [s.url for s in servers]
        async with subscribers(http, urls, "r") as subs:
            publishers = [Publisher(http, urls, "r", f"p{n}", 40, start=n) for n in range(3)]
            running = asyncio.gather(*(p.run(pause=0.002) for p in publishers))
            async with asyncio.timeout(30):
                while sum(len(p.acked) for p in publishers) < 60:
                    await asyncio.sleep(0.01)
            await until_subscribed(redis, 3)
            # Every node's subscriber connections: the broker's, the presence's, the
            # moderation notices' and the operations page's samples'.
            assert await kill_pubsub(redis) == 12
            await running
            # The last messages go out while the other nodes are reconnecting and no later
            # message reveals the hole: only their resync against the store finds them.
            await until_subscribed(redis, 3)
            assert await kill_pubsub(redis) == 12
            last = Publisher(http, urls, "r", "last", 3)
            await last.run()
            publishers.append(last)
            log = await read_log(http, urls[0], "r", through=last_acked(*publishers))
            check_log(log, publishers)
            await complete(subs, log["epoch"], 123)
            check_subscribers(subs, log)


@pytest.mark.slow
async def test_redis_that_lost_its_data_is_told_as_a_gap(
    redis: RedisServer, http: aiohttp.ClientSession
) -> None:
    """FLUSHALL: the room starts over with a new epoch and every subscriber is told so
    (a gap carrying the new epoch) before any message of the new log, never silently."""
    async with nodes(3, *redis_args(redis)) as servers:
        urls = [s.url for s in servers]
        async with subscribers(http, urls, "r") as subs:
            first = Publisher(http, urls, "r", "old", 5)
            await first.run()
            old_epoch = (await read_log(http, urls[0], "r", through=last_acked(first)))["epoch"]
            await complete(subs, old_epoch, 5)
            await redis.command("FLUSHALL")
            second = Publisher(http, urls, "r", "new", 3, start=1)
            await second.run()
            log = await read_log(http, urls[0], "r", through=last_acked(second))
            new_epoch = log["epoch"]
            assert new_epoch != old_epoch and [m["id"] for m in log["messages"]] == [1, 2, 3]
            await complete(subs, new_epoch, 3)
            for sub in subs:
                assert sub.ids(old_epoch) == [1, 2, 3, 4, 5], sub.kind
                assert sub.ids(new_epoch) == [1, 2, 3], sub.kind
                told = sub.events.index(("gap", new_epoch, 1))
                assert told < sub.events.index(("message", new_epoch, 1)), sub.kind


@pytest.mark.slow
async def test_two_processes_share_one_sqlite_file_through_redis(
    redis: RedisServer, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    """sqlite + --redis: two servers on one file publish into one room at once; ids are
    gapless and subscribers on both see every message once, in order."""
    args = ("--db", str(tmp_path / "shared.db"), "--redis", redis.url)
    async with nodes(2, *args) as servers:
        assert any(b"sqlite" in line and b"shared" in line for line in servers[0].log)
        urls = [s.url for s in servers]
        async with subscribers(http, urls, "r") as subs:
            publishers = [Publisher(http, urls, "r", f"p{n}", 30, start=n) for n in range(2)]
            await asyncio.gather(*(p.run() for p in publishers))
            log = await read_log(http, urls[1], "r", through=last_acked(*publishers))
            check_log(log, publishers)
            await complete(subs, log["epoch"], 60)
            check_subscribers(subs, log)


WORKER = re.compile(rb"worker (\d+) \(pid (\d+)\) listening")


def worker_pids(server: ServeProcess) -> list[int]:
    return [int(m.group(2)) for line in server.log for m in WORKER.finditer(line)]


async def test_workers_serve_one_port(redis: RedisServer, http: aiohttp.ClientSession) -> None:
    """--workers 2: one listening line, one port; publishes and streams through it reach
    each other whichever worker takes them; SIGTERM stops both and exits 0."""
    async with serve("--port", "0", *redis_args(redis), "--workers", "2") as server:
        assert len(worker_pids(server)) == 2
        assert any(b"2 workers" in line for line in server.log)
        fresh = [aiohttp.ClientSession() for _ in range(6)]  # new connections, spread by the kernel
        try:
            subs = [
                Subscriber(session, TRANSPORTS[i % 3], [server.url], "r").begin()
                for i, session in enumerate(fresh)
            ]
            publishers = [Publisher(s, [server.url], "r", f"p{n}", 20) for n, s in enumerate(fresh)]
            await asyncio.gather(*(p.run() for p in publishers))
            log = await read_log(http, server.url, "r", through=last_acked(*publishers))
            check_log(log, publishers)
            await complete(subs, log["epoch"], 120)
            check_subscribers(subs, log)
            for sub in subs:
                await sub.close()
        finally:
            for session in fresh:
                await session.close()
        served = await asyncio.gather(*(healthz(http, server.url) for _ in range(4)))
        assert served == [200] * 4
        server.process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(server.process.wait(), 20) == 0
        await server.read_log_until(b"hubbub stopped")


@pytest.mark.slow
async def test_a_dead_worker_stops_the_server_with_an_error(redis: RedisServer) -> None:
    """kill -9 of one worker: the parent says which, stops the other, exits 1 (no silent
    restart)."""
    async with serve("--port", "0", *redis_args(redis), "--workers", "2") as server:
        first, second = worker_pids(server)
        os.kill(first, signal.SIGKILL)
        assert await asyncio.wait_for(server.process.wait(), 20) == 1
        await server.read_log_until(b"was killed by SIGKILL")
        with contextlib.suppress(ProcessLookupError):  # already gone: nothing left running
            os.kill(second, 0)
            raise AssertionError("the other worker still runs")


async def test_workers_without_redis_say_so_in_one_line() -> None:
    """--workers 2 alone: exit 2 and one line naming --redis."""
    process = await asyncio.create_subprocess_exec(
        *_python_hubbub(),
        "serve",
        "--workers",
        "2",
        stderr=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL,
    )
    _, err = await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode == 2
    lines = err.decode().strip().splitlines()
    assert len(lines) == 1
    assert "--workers needs --redis URL (Redis carries messages between them)" in lines[0]


def _python_hubbub() -> tuple[str, ...]:
    return (sys.executable, "-m", "hubbub")


async def test_redis_without_fsync_is_refused_unless_accepted(tmp_path: Path) -> None:
    """--store redis on a Redis without appendfsync always: exit 1 naming the flag; with
    --redis-weak-durability it starts, and its listening line says what a 201 means."""
    async with running_redis(tmp_path / "weak", settings=("--appendonly", "no")) as weak:
        process = await asyncio.create_subprocess_exec(
            *_python_hubbub(),
            "serve",
            "--port",
            "0",
            *redis_args(weak),
            stderr=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.DEVNULL,
        )
        _, err = await asyncio.wait_for(process.communicate(), 20)
        assert process.returncode == 2
        assert "--redis-weak-durability" in err.decode().strip().splitlines()[-1]
        async with serve("--port", "0", *redis_args(weak), "--redis-weak-durability") as server:
            line = next(line for line in server.log if b"listening on" in line)
            assert b"a 201 means Redis accepted the message, not that it is on disk" in line


async def _exited(pid: int, timeout: float) -> bool:
    """Wait (on the kernel's pidfd, an event) until ``pid`` exits; False past ``timeout``."""
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    loop = asyncio.get_running_loop()
    gone = loop.create_future()

    def readable() -> None:
        if not gone.done():
            gone.set_result(None)

    loop.add_reader(pidfd, readable)
    try:
        await asyncio.wait_for(gone, timeout)
        return True
    except TimeoutError:
        return False
    finally:
        loop.remove_reader(pidfd)
        os.close(pidfd)


@pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="needs pidfd_open (Linux)")
async def test_orphaned_workers_exit_and_let_go_of_the_database(
    redis: RedisServer, tmp_path: Path
) -> None:
    """kill -9 of the parent while streams and a long poll are held: both workers stop by
    themselves and release the SQLite file's lock (a new server opens it)."""
    db = str(tmp_path / "hubbub.db")
    held: list[asyncio.StreamWriter] = []
    async with serve("--port", "0", "--db", db, "--redis", redis.url, "--workers", "2") as server:
        port = int(server.url.rsplit(":", 1)[1])
        requests = [b"GET /rooms/r/messages?since=0&wait=60 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"]
        requests += [
            b"GET /rooms/r%d/messages HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Accept: text/event-stream\r\n\r\n" % n
            for n in range(6)
        ]
        for request in requests:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(request)
            held.append(writer)
            if b"event-stream" in request:
                await asyncio.wait_for(reader.readuntil(b"event: ready"), 10)
        workers = worker_pids(server)
        server.process.kill()
        await server.process.wait()
        try:
            exited = [await _exited(pid, 25) for pid in workers]
        finally:
            for pid in workers:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            for writer in held:
                writer.close()
        assert exited == [True, True]
    async with serve("--port", "0", "--db", db, "--store", "sqlite") as alone:
        assert alone.url


async def test_the_lock_message_names_the_servers_still_holding_the_file(
    redis: RedisServer, tmp_path: Path
) -> None:
    """Two servers share a file (--redis); the second stops; a server of its own on the
    file is refused naming the one still running, not the last one that started."""
    db = str(tmp_path / "hubbub.db")
    shared = ("--port", "0", "--db", db, "--redis", redis.url)
    async with serve(*shared) as first:
        async with serve(*shared) as second:
            pass  # started (its pid written), then stopped
        assert second.process.returncode is not None
        refused = await asyncio.create_subprocess_exec(
            *_python_hubbub(),
            "serve",
            "--port",
            "0",
            "--db",
            db,
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await asyncio.wait_for(refused.communicate(), 20)
        assert refused.returncode == 2
        assert f"process {first.process.pid})".encode() in err, err
        assert str(second.process.pid).encode() not in err
