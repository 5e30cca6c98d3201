"""The search index's cost to publishing: acknowledged publishes with and without it,
through the group commit (``Committer``) and through a ``hubbub serve`` over HTTP."""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import re
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.http1 import ResponseParser, post_json
from bench.search_corpus import USERS, texts
from bench.ws_idle import cpu_seconds
from hubbub.protocol.encoding import EncodedMessage
from hubbub.protocol.messages import Publish
from hubbub.stats import Stats
from hubbub.store.committer import Committer
from hubbub.store.sqlite import SQLiteStore


async def publish_rate(
    path: Path, search: bool, seconds: float, publishers: int, sync: str
) -> float:
    """Acknowledged publishes per second through the group commit."""
    store = SQLiteStore(str(path), search=search, synchronous=sync)
    await store.open()
    committer = Committer(
        store, lambda results: [EncodedMessage(a.message, a.epoch) for a in results], Stats()
    )
    committer.start()
    rng = random.Random(1)
    corpus = texts(rng, 5000, 0)
    done = 0
    deadline = time.monotonic() + seconds

    async def publisher(n: int) -> None:
        nonlocal done
        for i in itertools.count():
            if time.monotonic() >= deadline:
                return
            room = f"room{rng.randrange(1000):04d}"
            await committer.submit(Publish(room, USERS[n % len(USERS)], corpus[i % 5000]))
            done += 1

    started = time.monotonic()
    await asyncio.gather(*(publisher(n) for n in range(publishers)))
    elapsed = time.monotonic() - started
    await committer.close()
    await store.close()
    return done / elapsed


async def publish_rates(
    seconds: float, publishers: int, rounds: int, sync: str
) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        rates: dict[bool, list[float]] = {True: [], False: []}
        for _ in range(rounds):
            for search in (False, True):
                path = Path(tmp) / f"publish-{search}-{sync}.db"
                rate = await publish_rate(path, search, seconds, publishers, sync)
                rates[search].append(rate)
        without, with_index = statistics.median(rates[False]), statistics.median(rates[True])
    return {"without": without, "with": with_index, "ratio": with_index / without}


async def _http_publisher(
    port: int, corpus: list[str], deadline: float, window: int, seed: int
) -> int:
    """One keep-alive connection with ``window`` publishes in flight: how many got 201."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    rng = random.Random(seed)
    parser = ResponseParser()
    host = f"127.0.0.1:{port}"

    def request() -> bytes:
        body = json.dumps({"user": rng.choice(USERS), "text": rng.choice(corpus)}).encode()
        return post_json(host, f"/rooms/room{rng.randrange(1000):04d}/messages", body)

    created = 0
    in_flight = window
    writer.write(b"".join(request() for _ in range(window)))
    try:
        while in_flight:
            data = await reader.read(65536)
            if not data:
                raise ConnectionError("the server closed a publisher's connection")
            for response in parser.feed(data):
                in_flight -= 1
                created += response.status == 201
                if time.monotonic() < deadline:
                    writer.write(request())
                    in_flight += 1
    finally:
        writer.close()
    return created


async def http_publish_rate(
    path: Path, search: bool, seconds: float, connections: int, window: int
) -> tuple[float, float]:
    """Acknowledged publishes per second of a ``hubbub serve`` process over HTTP, and
    the server's CPU microseconds per publish (steadier than the rate on a busy machine)."""
    index = "on" if search else "off"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hubbub", "serve", "--port", "0", "--db", str(path),
        "--search-index", index,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert process.stderr is not None
        port = 0
        async with asyncio.timeout(30):
            while not port:
                line = await process.stderr.readline()
                if not line:
                    raise RuntimeError("hubbub serve did not start")
                found = re.search(rb"listening on http://[^:]+:(\d+)", line)
                port = int(found.group(1)) if found else 0
        corpus = texts(random.Random(1), 5000, 0)
        started, cpu = time.monotonic(), cpu_seconds(process.pid)
        deadline = started + seconds
        counts = await asyncio.gather(
            *(_http_publisher(port, corpus, deadline, window, n) for n in range(connections))
        )
        published = sum(counts)
        cpu = cpu_seconds(process.pid) - cpu
        return published / (time.monotonic() - started), cpu / max(published, 1) * 1e6
    finally:
        process.send_signal(signal.SIGTERM)
        await process.wait()


async def http_publish_rates(
    seconds: float, connections: int, window: int, rounds: int
) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        rates: dict[bool, list[float]] = {True: [], False: []}
        cpu: dict[bool, list[float]] = {True: [], False: []}
        for n in range(rounds):
            for search in (False, True):
                path = Path(tmp) / f"http-{search}-{n}.db"
                rate, cost = await http_publish_rate(path, search, seconds, connections, window)
                rates[search].append(rate)
                cpu[search].append(cost)
        without, with_index = statistics.median(rates[False]), statistics.median(rates[True])
        cpu_without, cpu_with = statistics.median(cpu[False]), statistics.median(cpu[True])
    return {
        "without": without,
        "with": with_index,
        "ratio": with_index / without,
        "cpu_us_without": cpu_without,
        "cpu_us_with": cpu_with,
        "cpu_ratio": cpu_without / cpu_with,
    }
