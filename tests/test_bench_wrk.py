"""wrk's Lua script and summary, and renicing a real process: no server runs."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from bench import priority, wrk
from bench.dialects import DIALECTS


def test_script_posts_json_round_robin_with_unique_client_ids() -> None:
    """The script names every path once, a 100-byte text, and a per-request client_id."""
    paths = [DIALECTS["hubbub"].publish_path(f"p{i}") for i in range(3)]
    lua = wrk.script(paths)
    assert '"/rooms/p0/messages", "/rooms/p1/messages", "/rooms/p2/messages"' in lua
    assert "\"client_id\":\"w' .. id .. '-' .." in lua
    text = json.loads(lua.split("local text = ", 1)[1].splitlines()[0])
    assert len(text.encode()) == 100
    assert '["Content-Type"] = "application/json"' in lua
    assert wrk.MARK in lua


def test_nchan_is_posted_to_its_publisher_location() -> None:
    """Each dialect's publish path is what wrk posts to."""
    assert DIALECTS["nchan"].publish_path("p0") == "/pub/p0"


def test_command_takes_whole_seconds_and_no_more_threads_than_connections() -> None:
    """wrk gets -t, -c and a whole-second -d, never zero seconds."""
    cmd = wrk.command("http://127.0.0.1:1", Path("/x.lua"), 64, 2, 1.5)
    assert cmd[:4] == ["wrk", "-t2", "-c64", "-d2s"]
    assert wrk.command("http://h", Path("/x.lua"), 1, 4, 0.2)[1:4] == ["-t1", "-c1", "-d1s"]


def test_summary_becomes_acks_errors_and_latency() -> None:
    """Only answered publishes below 400 count, over wrk's own measured duration."""
    line = (
        'Running 2s test\n  64 connections\nWRK_JSON {"requests":30000,"duration_us":2000000,'
        '"connect":0,"read":1,"write":0,"status":100,"timeout":2,"p50_us":3500,'
        '"p99_us":12000,"max_us":20000}\n'
    )
    figures = wrk.figures(wrk.parse(line))
    assert figures["acks_per_s"] == pytest.approx(14950.0)
    assert figures["ack_latency"] == {"p50_ms": 3.5, "p99_ms": 12.0, "max_ms": 20.0}
    assert figures["publish"]["publish_errors"] == 103
    with pytest.raises(ValueError, match="no wrk summary"):
        wrk.parse("unable to connect to 127.0.0.1:1 Connection refused\n")


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    """A real process in a session of its own (as the suite starts its servers)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(30)"], start_new_session=True
    )
    yield proc
    proc.kill()
    proc.wait(10)


def test_renice_sets_every_thread_and_the_autogroup(sleeper: subprocess.Popen[bytes]) -> None:
    """Lowering a priority is always permitted: nice 7 lands on the process and its group."""
    assert priority.renice(sleeper.pid, 7) == ""
    assert priority.niceness(sleeper.pid) == 7
    group = Path(f"/proc/{sleeper.pid}/autogroup")
    if group.exists():
        assert group.read_text().split()[-1] == "7"


def test_raising_a_priority_works_as_root_and_is_noted_otherwise(
    sleeper: subprocess.Popen[bytes],
) -> None:
    """nice -5 applies as root; without the privilege the note says it was left at default."""
    note = priority.renice(sleeper.pid, -5)
    if os.geteuid() == 0:
        assert note == "" and priority.niceness(sleeper.pid) == -5
    else:
        assert "not permitted" in note and priority.niceness(sleeper.pid) == 0


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk not installed (apt-get install wrk)")
def test_the_script_is_valid_lua_for_wrk(tmp_path: Path) -> None:
    """wrk loads the script and prints its summary when no answer ever comes."""
    lua = tmp_path / "publish.lua"
    lua.write_text(wrk.script(["/rooms/p0/messages"]))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)  # the kernel accepts connections; nothing ever reads or answers
        port = s.getsockname()[1]
        done = subprocess.run(
            wrk.command(f"http://127.0.0.1:{port}", lua, 1, 1, 1),
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    summary = wrk.parse(done.stdout)
    assert summary["requests"] == 0 and summary["duration_us"] > 0
