"""Samples between nodes: each node publishes its second on one Redis channel and
listens to everyone's, so any node can show the whole server.

Fire and forget: a sample lost while Redis is away leaves a hole of a second in that
node's plot, nothing more; a publish still in flight when the next second comes is not
queued behind (the newer one is skipped). Redis is the first of ``--redis``: samples are
about a kilobyte a second per node, no reason to shard them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from typing import Protocol

import orjson
from redis.exceptions import RedisError

from hubbub import redis_layout as layout
from hubbub.ops.sample import Sample, sample_from_wire

log = logging.getLogger(__name__)

CHANNEL = b"hubbub:ops:samples"
MAX_BACKOFF = 5.0

OnSample = Callable[[Sample], None]


class Exchange(Protocol):
    def start(self, on_sample: OnSample) -> None:
        """From now on, call ``on_sample`` with every other node's samples."""

    def publish(self, sample: Sample) -> None:
        """Tell the other nodes; never blocks, never raises."""

    async def close(self) -> None: ...


class LocalExchange:
    """One node alone: nobody to tell."""

    def start(self, on_sample: OnSample) -> None:
        pass

    def publish(self, sample: Sample) -> None:
        pass

    async def close(self) -> None:
        pass


class RedisExchange:
    """Samples over Redis pub/sub: one listening connection, one for publishing."""

    def __init__(self, url: str, local: str) -> None:
        self._client = layout.connect(url)
        self._local = local
        self._listener: asyncio.Task[None] | None = None
        self._sending: asyncio.Task[None] | None = None

    def start(self, on_sample: OnSample) -> None:
        self._listener = asyncio.get_running_loop().create_task(
            self._listen(on_sample), name="hubbub-ops-exchange"
        )

    def publish(self, sample: Sample) -> None:
        if self._sending is not None and not self._sending.done():
            return  # Redis is slow or away: this second is skipped, not queued
        payload = orjson.dumps(sample.to_wire())
        self._sending = asyncio.get_running_loop().create_task(self._send(payload))

    async def _send(self, payload: bytes) -> None:
        with contextlib.suppress(RedisError, OSError, TimeoutError):
            await self._client.publish(CHANNEL, payload)

    async def _listen(self, on_sample: OnSample) -> None:
        delay = 0.0
        lost = False  # logged once per outage, not at every attempt
        while True:
            pubsub = self._client.pubsub()
            try:
                await pubsub.subscribe(CHANNEL)
                if lost:
                    log.info("ops samples: listening again")
                lost, delay = False, 0.0
                while True:
                    # Every node publishes each second (this one too): never quiet long.
                    message = await pubsub.get_message(timeout=1.0)
                    if message is not None and message["type"] == "message":
                        self._receive(message["data"], on_sample)
            except (RedisError, OSError, TimeoutError) as exc:
                if not lost:
                    log.warning("ops samples: Redis connection lost: %s", exc)
                lost = True
            finally:
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()
            delay = min(MAX_BACKOFF, max(0.1, delay * 2))
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))

    def _receive(self, data: bytes, on_sample: OnSample) -> None:
        try:
            sample = sample_from_wire(orjson.loads(data))
        except (ValueError, orjson.JSONDecodeError) as exc:
            log.error("ops samples: unreadable sample: %s", exc)
            return
        if sample.node != self._local:
            on_sample(sample)

    async def close(self) -> None:
        for task in (self._listener, self._sending):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        await self._client.aclose()


def make_exchange(redis: tuple[str, ...], local: str) -> Exchange:
    return RedisExchange(redis[0], local) if redis else LocalExchange()
