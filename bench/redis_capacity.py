"""How much one Redis carries for hubbub: appends/s through RedisStore and deliveries/s to nodes.

python -m bench.redis_capacity redis://127.0.0.1:6379/0 [--seconds 5] [--nodes 4]

Runs against a Redis you started (durability is not checked here: compare appendfsync always
with everysec to see what fsync costs). It reports the rates and Redis's own CPU seconds per
second (``INFO cpu``), so the ceiling of a dedicated Redis core is rate / cpu: this machine's
Python clients and the disk's fsync are usually the limit here, not Redis.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Sequence

from redis.asyncio import Redis

from hubbub.broker.redis import RedisBroker
from hubbub.protocol.messages import Message, Publish
from hubbub.store.base import Stamped
from hubbub.store.redis import RedisStore

ROOMS = 1000


async def redis_cpu(client: Redis) -> float:
    info = await client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


async def appends(url: str, seconds: float, publishers: int, batch: int) -> tuple[float, float]:
    """(messages/s, Redis CPU s/s) with ``publishers`` concurrent batches of ``batch``."""
    store = RedisStore([url], retain=1000, require_fsync=False)
    await store.open()
    client = Redis.from_url(url)
    count = 0
    deadline = time.monotonic() + seconds

    async def publisher(n: int) -> None:
        nonlocal count
        i = 0
        while time.monotonic() < deadline:
            room = f"room{(n * 7919 + i) % ROOMS}"
            items = [Stamped(Publish(room, "bench", "x" * 100), ts=1) for _ in range(batch)]
            await store.append(items)
            count += batch
            i += 1

    cpu, started = await redis_cpu(client), time.monotonic()
    await asyncio.gather(*(publisher(n) for n in range(publishers)))
    elapsed = time.monotonic() - started
    used = await redis_cpu(client) - cpu
    await store.close()
    await client.aclose()
    return count / elapsed, used / elapsed


async def deliveries(url: str, seconds: float, nodes: int) -> tuple[float, float]:
    """(deliveries/s, Redis CPU s/s): every node subscribed to every room, one store appending."""
    received = 0

    def deliver(room: str, epoch: str, messages: Sequence[Message]) -> None:
        nonlocal received
        received += len(messages)

    brokers = [RedisBroker([url]) for _ in range(nodes)]
    for broker in brokers:
        await broker.start(deliver, lambda: None)
        for i in range(100):
            await broker.subscribe(f"room{i}")
    await appends(url, 0.5, 4, 1)  # warm up: every room exists, the script is loaded
    client = Redis.from_url(url)
    received = 0
    cpu, started = await redis_cpu(client), time.monotonic()
    await appends(url, seconds, 8, 10)
    elapsed = time.monotonic() - started
    used = await redis_cpu(client) - cpu
    for broker in brokers:
        await broker.close()
    await client.aclose()
    return received / elapsed, used / elapsed


async def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.redis_capacity")
    parser.add_argument("url")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--nodes", type=int, default=4)
    args = parser.parse_args(argv)
    for publishers, batch in ((1, 1), (16, 1), (16, 10)):
        rate, cpu = await appends(args.url, args.seconds, publishers, batch)
        print(
            f"appends: {publishers} publishers x batch {batch}: {rate:,.0f} msg/s, "
            f"redis cpu {cpu:.2f} s/s -> {rate / max(cpu, 1e-9):,.0f} msg/s per Redis core"
        )
    rate, cpu = await deliveries(args.url, args.seconds, args.nodes)
    print(f"deliveries to {args.nodes} nodes: {rate:,.0f} msg/s received, redis cpu {cpu:.2f} s/s")


if __name__ == "__main__":
    asyncio.run(main())
