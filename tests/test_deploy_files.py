"""The systemd unit and the Redis configuration shipped in ``deploy/``, run for real.

(The nginx sites have their own suite: tests/test_nginx.py.)
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from redis.exceptions import ResponseError

from tests.process import serve
from tests.redis_server import RedisServer, needs_redis

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
UNIT = DEPLOY / "systemd" / "hubbub.service"
HUBBUB = Path(sys.executable).parent / "hubbub"


def unit_settings(name: str) -> list[str]:
    """Every value of ``name=`` in the unit's lines that are not comments."""
    return re.findall(rf"^{name}=(.*)$", UNIT.read_text(), flags=re.MULTILINE)


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_the_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    """As shipped, with ExecStart pointed at this checkout's hubbub (the one thing that
    differs on a machine where it is installed in /opt/hubbub)."""
    text, count = re.subn(r"^ExecStart=/opt/hubbub/bin/hubbub ", f"ExecStart={HUBBUB} ",
                          UNIT.read_text(), flags=re.MULTILINE)  # fmt: skip
    assert count == 1
    unit = tmp_path / "hubbub.service"
    unit.write_text(text)
    done = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr


def test_the_unit_orders_after_redis_and_reads_an_environment_file() -> None:
    assert "redis-server.service" in unit_settings("After")[0].split()
    assert unit_settings("EnvironmentFile") == ["-/etc/hubbub/env"]
    assert unit_settings("KillSignal") == ["SIGTERM"]


async def test_the_units_environment_starts_hubbub_and_sigterm_stops_it(tmp_path: Path) -> None:
    """hubbub serve with exactly the unit's Environment= (the database moved to the test's
    directory, the port to a free one) listens there, and its KillSignal stops it with
    status 0 well within TimeoutStopSec."""
    env = dict(line.split("=", 1) for line in unit_settings("Environment"))
    assert set(env) == {"HUBBUB_DB", "HUBBUB_HOST", "HUBBUB_PORT"}
    env["HUBBUB_DB"] = str(tmp_path / "hubbub.db")
    env["HUBBUB_PORT"] = "0"
    (stop_within,) = unit_settings("TimeoutStopSec")
    async with serve(env=env) as running:
        assert running.url.startswith(f"http://{env['HUBBUB_HOST']}:")
        assert any(env["HUBBUB_DB"].encode() in line for line in running.log)
        running.process.send_signal(getattr(signal, unit_settings("KillSignal")[0]))
        assert await asyncio.wait_for(running.process.wait(), float(stop_within)) == 0
    assert Path(env["HUBBUB_DB"]).is_file()  # noqa: ASYNC240 - one stat, after the server


@needs_redis
async def test_the_shipped_redis_config_passes_hubbubs_checks(tmp_path: Path) -> None:
    """redis-server started with deploy/redis/hubbub-redis.conf (only its port, directory
    and log file overridden): ``--store redis`` starts without --redis-weak-durability, and
    CONFIG REWRITE works, as a Redis started without a file cannot."""
    os.makedirs(tmp_path / "redis", exist_ok=True)
    config = tmp_path / "hubbub-redis.conf"  # a copy: CONFIG REWRITE writes to it
    shutil.copy(DEPLOY / "redis" / "hubbub-redis.conf", config)
    redis = RedisServer(tmp_path / "redis", settings=(), config=config)
    await redis.start()
    try:
        assert await redis.command("CONFIG", "GET", "appendfsync") == {b"appendfsync": b"always"}
        assert await redis.command("CONFIG", "REWRITE") in (b"OK", "OK", True)
        async with serve("--port", "0", "--store", "redis", "--redis", redis.url) as running:
            assert not any(b"WEAK DURABILITY" in line for line in running.log)
            running.process.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(running.process.wait(), 15) == 0
    finally:
        await redis.stop(kill=True)


@needs_redis
async def test_config_rewrite_fails_on_a_redis_started_without_a_file(
    redis: RedisServer,
) -> None:
    """What the guide warns about: CONFIG SET cannot be saved on such a Redis."""
    with pytest.raises(ResponseError, match="without a config file"):
        await redis.command("CONFIG", "REWRITE")
