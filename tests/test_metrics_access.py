"""Who may read /metrics (--metrics-allow), and /metrics of the whole server under --workers."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from pathlib import Path

import aiohttp
import pytest

from hubbub.address_list import contains, networks_of, parse_cidr_list
from tests.conftest import StartServer
from tests.process import serve
from tests.redis_server import RedisServer, needs_redis
from tests.tokens import OTHER_SECRET, SECRET, bearer, make_token
from tests.wire import publish


def test_address_lists() -> None:
    """CIDRs and bare addresses, IPv4 seen on an IPv6 socket, and what is no address."""
    assert parse_cidr_list("127.0.0.1/8, ::1,10.1.2.3") == ("127.0.0.0/8", "::1/128", "10.1.2.3/32")
    assert parse_cidr_list("none") == ()
    with pytest.raises(ValueError, match=re.escape("'10.0.0.0/33'")):
        parse_cidr_list("10.0.0.0/33")
    loopback = networks_of(parse_cidr_list("127.0.0.0/8,::1"))
    assert contains(loopback, "127.0.0.2") and contains(loopback, "::1")
    assert contains(loopback, "::ffff:127.0.0.1")
    assert not contains(loopback, "10.0.0.1")
    assert not contains(loopback, "unknown") and not contains(loopback, None)
    assert not contains((), "127.0.0.1")


async def test_metrics_are_served_to_the_listed_addresses_only(
    start_server: StartServer, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """Loopback by default; a list without this client's address: 403 in JSON."""
    default = await start_server()
    async with http.get(f"{default.url}/metrics") as answer:
        assert answer.status == 200
    closed = await start_server(metrics_allow=("10.0.0.0/8",), db=str(tmp_path / "b.db"))
    async with http.get(f"{closed.url}/metrics") as answer:
        assert answer.status == 403
        assert (await answer.json())["error"]["code"] == "forbidden"
    async with http.get(f"{closed.url}/healthz") as answer:
        assert answer.status == 200  # only /metrics is closed


async def test_a_bad_metrics_allow_is_one_line() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hubbub", "serve", "--metrics-allow", "10.0.0.0/33",
        stderr=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    _, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 2
    assert "--metrics-allow" in err.decode() and "'10.0.0.0/33'" in err.decode()


def published_by_worker(text: str) -> dict[str, int]:
    found = re.findall(r'^hubbub_messages_published_total\{worker="(\d+)"\} (\d+)$', text, re.M)
    return {worker: int(count) for worker, count in found}


@needs_redis
async def test_metrics_under_workers_cover_every_worker(
    redis: RedisServer, http: aiohttp.ClientSession
) -> None:
    """10 publishes spread over 2 workers: any scrape names both workers and, within the
    sharing interval, adds up to 10 (it showed one random worker's, about 5)."""
    args = ("--port", "0", "--store", "redis", "--redis", redis.url, "--workers", "2")
    async with serve(*args) as server:
        for n in range(10):
            async with aiohttp.ClientSession() as fresh:  # new connections, spread by the kernel
                await publish(fresh, server.url, "r", f"m{n}")
        async with asyncio.timeout(10):
            while True:
                async with http.get(f"{server.url}/metrics") as answer:
                    assert answer.status == 200
                    text = await answer.text()
                    counts = published_by_worker(text)
                assert set(counts) == {"1", "2"}, counts
                if sum(counts.values()) == 10:
                    break
                await asyncio.sleep(0.1)
        # Each worker's longest commit crosses over too: every worker that committed has one.
        found = re.findall(r'^hubbub_commit_longest_seconds\{worker="(\d+)"\} (\S+)$', text, re.M)
        longest = {worker: float(value) for worker, value in found}
        assert set(longest) == {"1", "2"}
        assert all(longest[worker] > 0 for worker, count in counts.items() if count)
        # And each worker's loop-lag histogram: its probe fires every 50 ms from the start,
        # and the other worker's file shows it within the sharing interval.
        lag = r'^hubbub_event_loop_lag_seconds_count\{worker="(\d+)"\} (\d+)$'
        async with asyncio.timeout(10):
            while True:
                async with http.get(f"{server.url}/metrics") as answer:
                    found = re.findall(lag, await answer.text(), re.M)
                if {worker for worker, count in found if int(count) > 0} == {"1", "2"}:
                    break
                await asyncio.sleep(0.1)
        server.process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(server.process.wait(), 20) == 0


async def test_a_token_with_the_admin_claim_reads_metrics_from_anywhere(
    start_server: StartServer, http: aiohttp.ClientSession
) -> None:
    """With access control on, outside the address list: an admin token may, a token
    without the claim may not (403), a refused one is 401, no token 403."""
    server = await start_server(auth_secret=SECRET, metrics_allow=("10.0.0.0/8",))
    url = f"{server.url}/metrics"
    for headers, status in [
        (bearer(make_token("root", admin=True)), 200),
        (bearer(make_token("alice")), 403),
        (bearer(make_token("root", admin=True, secret=OTHER_SECRET)), 401),
        ({}, 403),
    ]:
        async with http.get(url, headers=headers) as answer:
            assert answer.status == status, (headers, await answer.text())
