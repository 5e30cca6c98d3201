"""``python -m bench.chat``: the shape chat has (issue 19), hubbub against nginx + Nchan.

N users, each one WebSocket subscribed to a personal room and a group room (``--group``
members); one publisher sends ``--rate`` messages a second to random rooms
(``--group-share`` of them to group rooms); ``--churn`` users a second drop and resume
with their cursors. The server runs on core 0, this generator on core 1; servers
alternate, ``--repeats`` runs each. Reported per run: the connect storm (all users with
both subscriptions ready), memory per user, delivery latency p50/p99/max, server CPU per
delivery, and exactness (every user got every message of its rooms once, in order).
For hubbub, its own ``/metrics`` at the end of the measured window adds the longest
event-loop stall of the last minute (the connect storm included when it falls in that
minute), the same counting only the time the server could have run itself (on this
shared machine the rest is the kernel giving its core to others), the collector's
time over the window, and its commits: messages a commit and the mean commit over the
window, and the longest commit of the last minute. The generator runs with its own
cyclic collector off (bench/pauses.py), so none of its pauses is counted as latency.

    .venv/bin/python -m bench.chat --users 10000 --rate 2000 --servers hubbub-sqlite,nchan
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import resource
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import psutil  # type: ignore[import-untyped, unused-ignore]
import uvloop

from bench import http1, install, priority, wsframe
from bench.chat_metrics import lag_in_window, server_metrics
from bench.chat_users import ChatUser, Tally, UserSocket, message_text
from bench.conn import Connection
from bench.pauses import collector_paused
from bench.servers import SERVERS, RunningServer, running

CONNECT_WINDOW = 1000  # handshakes in flight at once during the storm
TICK_S = 0.001


class ChatPublisher(Connection):
    """One publisher: hubbub's ``GET /ws`` socket, or Nchan's pipelined HTTP publisher."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        self.upgraded = dialect == "nchan"
        self.buffer = b""
        self.ws = wsframe.FrameParser()
        self.http = http1.ResponseParser()
        self.answered = 0
        self.refused: list[str] = []
        self.ready = asyncio.get_running_loop().create_future()

    def opened(self) -> None:
        assert self.transport is not None
        if self.dialect == "nchan":
            self.ready.set_result(None)
        else:
            self.transport.write(wsframe.handshake_request("127.0.0.1", "/ws?user=publisher"))

    def publish(self, room: str, text: str) -> None:
        assert self.transport is not None
        if self.dialect == "nchan":
            self.transport.write(http1.post_json("127.0.0.1", f"/pub/{room}", text.encode()))
        else:
            frame = {"type": "publish", "room": room, "user": "publisher", "text": text}
            self.transport.write(wsframe.encode(orjson.dumps(frame)))

    def data_received(self, data: bytes) -> None:
        if not self.upgraded:
            self.buffer += data
            done, data = wsframe.handshake_response(self.buffer)
            if not done:
                return
            self.upgraded = True
            self.ready.set_result(None)
        if self.dialect == "nchan":
            for response in self.http.feed(data):
                self.answered += 1
                if response.status >= 300:
                    self.refused.append(f"{response.status} {response.body[:100]!r}")
            return
        for frame in self.ws.feed(data):
            if frame.opcode == wsframe.OP_TEXT:
                if frame.payload.startswith(b'{"type":"ack"'):
                    self.answered += 1
                elif b'"error"' in frame.payload[:20]:
                    self.refused.append(frame.payload[:200].decode(errors="replace"))


async def connect(user: ChatUser, port: int) -> None:
    """A new socket for ``user`` (with its cursors after a drop), until both rooms are ready."""
    socket = user.socket = UserSocket(user)
    await asyncio.get_running_loop().create_connection(lambda: socket, "127.0.0.1", port)
    await socket.ready


async def storm(users: list[ChatUser], port: int) -> float:
    """Connect every user, ``CONNECT_WINDOW`` at a time; seconds until all are ready."""
    started = time.monotonic()
    window = asyncio.Semaphore(CONNECT_WINDOW)

    async def one(user: ChatUser) -> None:
        async with window:
            await connect(user, port)

    await asyncio.gather(*(one(user) for user in users))
    return time.monotonic() - started


def percentile(ordered: list[int], pct: float) -> float:
    """The nearest-rank percentile of an ascending list (0 when it is empty)."""
    if not ordered:
        return 0.0
    rank = max(1, round(pct / 100 * len(ordered)))
    return float(ordered[min(rank, len(ordered)) - 1])


def rooms_of(index: int, group: int) -> tuple[str, str]:
    return f"p{index}", f"g{index // group}"


async def run_once(server: RunningServer, args: argparse.Namespace) -> dict[str, Any]:
    dialect = "nchan" if server.spec.dialect == "nchan" else "hubbub"
    port = server.port
    tally = Tally()
    users = [ChatUser(dialect, i, rooms_of(i, args.group), tally) for i in range(args.users)]
    groups = (args.users + args.group - 1) // args.group
    memory_before = server.memory_bytes()
    connect_cpu, storm_start = server.cpu_seconds(), os.times()
    connect_s = await storm(users, port)
    connect_cpu, storm_end = server.cpu_seconds() - connect_cpu, os.times()
    storm_generator_cpu = (storm_end.user - storm_start.user) + (
        storm_end.system - storm_start.system
    )
    await asyncio.sleep(1.0)  # let the server settle before its memory is read
    memory_per_user = (server.memory_bytes() - memory_before) / args.users

    loop = asyncio.get_running_loop()
    publisher = ChatPublisher(dialect)
    await loop.create_connection(lambda: publisher, "127.0.0.1", port)
    await publisher.ready
    seq: dict[str, int] = {}
    rng = random.Random(1)

    def send_one() -> None:
        if rng.random() < args.group_share:
            room = f"g{rng.randrange(groups)}"
        else:
            room = f"p{rng.randrange(args.users)}"
        seq[room] = seq.get(room, 0) + 1
        publisher.publish(room, message_text(room, seq[room], time.monotonic_ns()))

    async def churn(stop: asyncio.Event) -> int:
        resumed = 0
        if not args.churn:  # nobody drops: done when the window ends
            await stop.wait()
            return 0
        while not stop.is_set():
            await asyncio.sleep(1.0 / args.churn)
            user = users[rng.randrange(len(users))]
            socket = user.socket
            if socket is None or socket.transport is None or not socket.ready.done():
                continue
            socket.drop()
            try:
                await connect(user, port)
                resumed += 1
            except (OSError, ConnectionError) as error:
                tally.errors.append(f"u{user.index} did not resume: {error}")
        return resumed

    stop_churn = asyncio.Event()
    churner = asyncio.create_task(churn(stop_churn))
    warmup_end = time.monotonic() + args.warmup
    end = warmup_end + args.seconds
    started = time.monotonic()
    sent = sent_start = 0
    threads_start: dict[str, float] = {}
    cpu_start = deliveries_start = 0.0
    gc_start: float | None = None
    commits_start = committed_start = commit_seconds_start = 0.0
    lag_start: dict[str, float] = {}
    while (now := time.monotonic()) < end:
        if not tally.measuring and now >= warmup_end:
            tally.measuring = True
            cpu_start, deliveries_start = server.cpu_seconds(), tally.deliveries
            threads_start, sent_start = thread_cpu(server.pid), sent
            generator_start = os.times()
            window_start = now
            if dialect == "hubbub":
                (_, _, gc_start), commit_figures, lag_start = await server_metrics(port)
                commits_start, committed_start, commit_seconds_start, _ = commit_figures
        due = int((now - started) * args.rate)
        while sent < due:
            send_one()
            sent += 1
        await asyncio.sleep(TICK_S)
    tally.measuring = False
    cpu = server.cpu_seconds() - cpu_start
    threads_end, sent_in_window = thread_cpu(server.pid), sent - sent_start
    generator_end = os.times()
    generator_cpu = (generator_end.user - generator_start.user) + (
        generator_end.system - generator_start.system
    )
    delivered_in_window = tally.deliveries - deliveries_start
    window_s = time.monotonic() - window_start
    stall_s = busy_s = gc_s = per_commit = commit_mean_s = commit_longest_s = None
    stalls_in_window, stalls_within_ms = None, None
    if dialect == "hubbub":
        (stall_s, busy_s, gc_end), commit_figures, lag_end = await server_metrics(port)
        stalls_in_window, stalls_within_ms = lag_in_window(lag_start, lag_end)
        commits, committed, commit_seconds, commit_longest_s = commit_figures
        if gc_start is not None and gc_end is not None:
            gc_s = gc_end - gc_start
        if commits > commits_start:
            per_commit = (committed - committed_start) / (commits - commits_start)
            commit_mean_s = (commit_seconds - commit_seconds_start) / (commits - commits_start)
    stop_churn.set()
    resumed = await churner

    # Drain: every user reaches the publisher's last seq of both its rooms.
    drain_deadline = time.monotonic() + 30.0
    while time.monotonic() < drain_deadline:
        behind = sum(1 for u in users for room in u.rooms if u.check.last[room] < seq.get(room, 0))
        if not behind:
            break
        await asyncio.sleep(0.05)
    incomplete = sum(1 for u in users if any(u.check.last[r] < seq.get(r, 0) for r in u.rooms))
    for user in users:
        if user.socket is not None:
            user.socket.drop()
    if publisher.transport is not None:
        publisher.transport.close()
    latencies = sorted(tally.latencies_ns)
    return {
        "server": server.spec.name,
        "users": args.users,
        "connect_s": round(connect_s, 3),
        "connects_per_s": round(args.users / connect_s),
        # The storm's server CPU (process time from /proc) per user, and the share of a
        # core it had: a rate that moves with the shared machine's load, this does not.
        "connect_server_cpu_us_per_user": round(connect_cpu / args.users * 1e6, 1),
        "connect_server_cores": round(connect_cpu / connect_s, 2),
        # This generator's share of its core in the storm: near 1, the rate is its own.
        "connect_generator_cores": round(storm_generator_cpu / connect_s, 2),
        "memory_per_user_kb": round(memory_per_user / 1000, 2),
        "published": sent,
        "publish_answers": publisher.answered,
        "publish_refusals": publisher.refused[:5],
        "deliveries_per_s": round(delivered_in_window / window_s),
        "latency_ms": {
            "p50": round(percentile(latencies, 50) / 1e6, 2),
            "p99": round(percentile(latencies, 99) / 1e6, 2),
            "max": round(latencies[-1] / 1e6, 2) if latencies else None,
            "samples": len(latencies),
        },
        "server_cpu_us_per_delivery": round(cpu / max(delivered_in_window, 1) * 1e6, 2),
        "server_cpu_cores": round(cpu / window_s, 2),
        "server_thread_us_per_message": per_message(threads_start, threads_end, sent_in_window),
        # hubbub's /metrics: the longest loop stall of the minute before the window's end
        # (the storm included if in it), and the collector's seconds over the window.
        "loop_stall_ms": None if stall_s is None else round(stall_s * 1000, 1),
        # The same stall counting only what the server could have run itself (/metrics).
        "loop_busy_stall_ms": None if busy_s is None else round(busy_s * 1000, 1),
        # The loop-lag histogram over the window alone (the storm left out): stalls over
        # 10 ms, and the smallest bound every firing of the probe was within.
        "window_stalls_over_10ms": stalls_in_window,
        "window_stalls_within_ms": stalls_within_ms,
        "gc_ms_in_window": None if gc_s is None else round(gc_s * 1000, 1),
        # Group commit: the more messages a commit holds, the less each costs (its fixed
        # cost, fsync included, is shared), and a busier server makes larger commits; CPU
        # per delivery is comparable between runs of about the same size.
        "messages_per_commit": None if per_commit is None else round(per_commit, 1),
        # A commit's time over the window, and the longest of the minute before its end
        # (every publish queued meanwhile waits for it: a slow fsync shows here).
        "commit_mean_ms": None if commit_mean_s is None else round(commit_mean_s * 1000, 2),
        "commit_longest_ms": None
        if commit_longest_s is None
        else round(commit_longest_s * 1000, 1),
        # The generator measures itself past 0.8 of a core: a run over it is not usable.
        "generator_cpu_cores": round(generator_cpu / window_s, 2),
        "resumed": resumed,
        "lost": tally.lost,
        "doubled": tally.doubled,
        "users_incomplete": incomplete,
        "errors": tally.errors[:5],
        "error_count": len(tally.errors),
    }


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds (user + system) of each thread of the server's main process, by
    ``loop`` (the main thread, which runs the event loop) and ``thread-TID`` (for hubbub
    with SQLite, the busiest of them is the store's writer)."""
    found: dict[str, float] = {}
    with contextlib.suppress(psutil.NoSuchProcess):
        for thread in psutil.Process(pid).threads():
            name = "loop" if thread.id == pid else f"thread-{thread.id}"
            found[name] = thread.user_time + thread.system_time
    return found


def per_message(start: dict[str, float], end: dict[str, float], messages: int) -> dict[str, float]:
    """Each thread's CPU over the window per message published, in microseconds, busiest
    first (threads below 1 us per message left out)."""
    spent = {name: end[name] - start.get(name, 0.0) for name in end}
    return {
        name: round(seconds / max(messages, 1) * 1e6, 1)
        for name, seconds in sorted(spent.items(), key=lambda kv: -kv[1])
        if seconds / max(messages, 1) * 1e6 >= 1
    }


def server_spec(name: str) -> Any:
    spec = SERVERS[name]
    if spec.dialect == "hubbub":
        # Every user is on 127.0.0.1: no per-address cap; heartbeats past the run.
        env = (*spec.env, ("HUBBUB_MAX_CONNECTIONS_PER_IP", "100000"))
        spec = replace(spec, env=env)
    return spec


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.chat",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--group", type=int, default=10, help="members of a group room")
    parser.add_argument("--rate", type=float, default=2000.0, help="messages per second")
    parser.add_argument("--group-share", type=float, default=0.9)
    parser.add_argument("--churn", type=float, default=20.0, help="users a second resuming")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured window")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--servers", default="hubbub-sqlite,nchan")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("bench/results/chat.json"))
    args = parser.parse_args(argv)
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    with contextlib.suppress(OSError):
        os.sched_setaffinity(0, {1})  # the generator on core 1, the server on core 0
    # Raised as the suite raises its drivers (bench/priority.py; the server is by
    # running()): on a shared machine the generator otherwise waited for its core for
    # most of a storm (9 s of 12 in one run), and the connect rate measured that.
    if note := priority.renice(os.getpid(), priority.DRIVER_NICE):
        print(note, file=sys.stderr)
    results: list[dict[str, Any]] = []
    names = [n.strip() for n in args.servers.split(",") if n.strip()]
    if "nchan" in names and (why := install.ensure_nchan()):
        print(f"nchan left out of this run: {why}", file=sys.stderr)
        names.remove("nchan")
    for repeat in range(args.repeats):
        for name in names:  # servers alternate within each repeat
            with (
                tempfile.TemporaryDirectory() as tmp,
                running(server_spec(name), Path(tmp), "0") as server,
                collector_paused(),  # the generator's own pauses out of the latencies
            ):
                result = uvloop.run(run_once(server, args))
            result["repeat"] = repeat
            results.append(result)
            print(json.dumps(result), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "runs": results}, indent=1)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
