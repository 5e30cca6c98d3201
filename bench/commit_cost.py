"""``python -m bench.commit_cost``: the SQLite store's writer CPU per message and per commit.

The chat shape's rooms (issue 19: ``--users`` personal rooms and one group room per ten,
``--group-share`` of the messages to groups), on a file filled first with ``--prefill``
messages; then commits of each ``--batch`` size, timed by the writer's own thread CPU
(``time.thread_time`` around ``SQLiteStore._append_sync``: what the store's writer thread
spends, fsync included, whatever else the machine runs). The same commit size is what
makes two runs comparable: a commit's fixed cost is shared by its messages.

    .venv/bin/python -m bench.commit_cost --batch 3,10,40
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from pathlib import Path

from hubbub.protocol.messages import Publish
from hubbub.store import SQLiteStore, Stamped


class Publishes:
    """Publishes to the chat shape's rooms, 64 characters of text each (bench.chat's)."""

    def __init__(self, users: int, group_share: float) -> None:
        self._users = users
        self._groups = max(1, users // 10)
        self._share = group_share
        self._rng = random.Random(1)
        self._count = 0

    def take(self, count: int) -> list[Stamped]:
        batch = []
        for _ in range(count):
            rng = self._rng
            if rng.random() < self._share:
                room = f"g{rng.randrange(self._groups)}"
            else:
                room = f"p{rng.randrange(self._users)}"
            self._count += 1
            head = f"{room} {self._count} {time.monotonic_ns()} "
            text = head + "x" * max(0, 64 - len(head))
            batch.append(Stamped(Publish(room, "publisher", text), ts=time.time_ns() // 1_000_000))
        return batch


def measure(store: SQLiteStore, publishes: Publishes, batch: int, messages: int) -> float:
    """The writer's CPU seconds for ``messages`` in commits of ``batch``."""
    commits = [publishes.take(batch) for _ in range(max(1, messages // batch))]
    started = time.thread_time()
    for commit in commits:
        store._append_sync(commit)  # the writer thread's work, on this thread
    return time.thread_time() - started


async def run(path: Path, args: argparse.Namespace) -> None:
    """Open the store, fill it, time each batch size (on this thread: nothing else runs
    on the loop meanwhile), close it."""
    store = SQLiteStore(str(path), synchronous=args.sync)
    await store.open()
    try:
        publishes = Publishes(args.users, args.group_share)
        for _ in range(args.prefill // 1000):
            store._append_sync(publishes.take(1000))
        for batch in (int(size) for size in args.batch.split(",")):
            spent = measure(store, publishes, batch, args.messages)
            commits = max(1, args.messages // batch)
            print(
                f"{batch:5d} a commit: {spent / (commits * batch) * 1e6:7.1f} us a message,"
                f" {spent / commits * 1e6:8.1f} us a commit"
            )
    finally:
        await store.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.commit_cost",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--batch", default="3,10,40", help="messages a commit, comma-separated")
    parser.add_argument("--messages", type=int, default=4500, help="measured per batch size")
    parser.add_argument("--prefill", type=int, default=50_000)
    parser.add_argument("--users", type=int, default=15_000)
    parser.add_argument("--group-share", type=float, default=0.9)
    parser.add_argument("--sync", choices=("full", "normal"), default="full")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as workdir:
        asyncio.run(run(Path(workdir) / "hubbub.db", args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
