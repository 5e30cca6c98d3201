"""``hubbub send`` and ``hubbub tail`` as child processes against a real server."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Mapping

import orjson

from hubbub.client import Client
from hubbub.server import Server
from tests.conftest import StartServer
from tests.test_client import free_port
from tests.test_client_epoch import fill, restart_with
from tests.wire import wait_live

TIMEOUT = 20.0  # a child's start-up (importing aiohttp) is slow on a loaded machine


async def hubbub(
    *args: str, stdin: bytes = b"", env: Mapping[str, str] | None = None
) -> tuple[int, str, str]:
    """Run ``python -m hubbub ARGS``; its status, stdout and stderr (bounded wait)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hubbub", *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **env} if env is not None else None,
    )  # fmt: skip
    try:
        async with asyncio.timeout(TIMEOUT):
            out, err = await process.communicate(stdin)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def texts(server: Server, room: str = "r") -> list[tuple[str, str]]:
    async with Client(server.url) as client:
        page = await client.history(room)
    return [(m.user, m.text) for m in page.messages]


async def test_send_text(server: Server) -> None:
    """send ROOM TEXT publishes one message, quietly."""
    code, out, err = await hubbub(
        "send", "r", "hello there", "--name", "alice", "--url", server.url
    )
    assert (code, out, err) == (0, "", "")
    assert await texts(server) == [("alice", "hello there")]


async def test_send_lines_from_stdin_as_json(server: Server) -> None:
    """With no TEXT, each non-blank stdin line is a message; --json prints each one stored."""
    code, out, _ = await hubbub(
        "send", "r", "--name", "bob", "--json", "--url", server.url, stdin=b"one\n\n  \ntwo\r\n"
    )
    assert code == 0
    stored = [orjson.loads(line) for line in out.splitlines()]
    assert [(m["id"], m["text"], m["user"]) for m in stored] == [
        (1, "one", "bob"),
        (2, "two", "bob"),
    ]
    assert all(m["client_id"] for m in stored)
    assert await texts(server) == [("bob", "one"), ("bob", "two")]


async def test_send_refused_exits_1(server: Server) -> None:
    """A message the server refuses: status 1 and its reason and code on stderr."""
    code, _, err = await hubbub("send", "r", "x" * 4001, "--name", "a", "--url", server.url)
    assert code == 1
    assert "refused: text must be at most 4000 characters (invalid_message)" in err


async def test_send_unreachable_exits_3() -> None:
    """Nothing listening at --url: status 3 and a clear reason, no traceback."""
    url = f"http://127.0.0.1:{free_port()}"
    code, _, err = await hubbub("send", "r", "hi", "--name", "a", "--url", url)
    assert code == 3
    assert (
        err
        == f"hubbub send: cannot reach the server: cannot connect to {url}: Connection refused\n"
    )


async def test_send_bad_arguments_exit_2(server: Server) -> None:
    """A bad room or a blank name is refused before anything is sent."""
    code, _, err = await hubbub("send", ".r", "hi", "--name", "a", "--url", server.url)
    assert code == 2 and "invalid room name" in err
    code, _, err = await hubbub("send", "r", "hi", "--name", " ", "--url", server.url)
    assert code == 2 and "--name: user must not be blank" in err


async def test_tail_json_with_a_gap(start_server: StartServer) -> None:
    """--since 0 --json on a room keeping 2 of 4: a gap line, then the kept messages."""
    server = await start_server(retain=2)
    async with Client(server.url) as client:
        for i in range(4):
            await client.publish("r", "a", f"m{i}")
        epoch = (await client.history("r")).epoch
    code, out, _ = await hubbub(
        "tail", "r", "--since", "0", "--json", "--count", "2", "--url", server.url
    )
    assert code == 0
    gap, *messages = [orjson.loads(line) for line in out.splitlines()]
    assert gap == {
        "type": "gap", "cursor": 0, "first_id": 3, "last_id": 4, "reset": False, "epoch": epoch
    }  # fmt: skip
    assert [(m["text"], m["epoch"]) for m in messages] == [("m2", epoch), ("m3", epoch)]


async def test_tail_prints_a_reset_as_a_gap_with_the_new_epoch(start_server: StartServer) -> None:
    """--since 10 --epoch OLD after a memory store restarted with 20 new messages: a reset
    gap line naming the new epoch, then the 20 messages of the new log."""
    server = await start_server(store="memory")
    _, old_epoch = await fill(server.url, 10, "old")
    new, new_epoch = await restart_with(start_server, server)
    code, out, _ = await hubbub(
        "tail", "r", "--since", "10", "--epoch", old_epoch, "--json", "--count", "20",
        "--url", server.url,
    )  # fmt: skip
    assert code == 0
    gap, *messages = [orjson.loads(line) for line in out.splitlines()]
    assert gap == {
        "type": "gap", "cursor": 10, "first_id": 1, "last_id": 20, "reset": True,
        "epoch": new_epoch,
    }  # fmt: skip
    assert messages == [{**m.to_dict(), "epoch": new_epoch} for m in new]

    code, out, _ = await hubbub(
        "tail", "r", "--since", "10", "--epoch", old_epoch, "--count", "1", "--url", server.url
    )
    assert code == 0
    assert out.splitlines()[0] == (
        "-- the room was reset on the server (its log started over; anything after #10 "
        "in the old one is lost); it goes on from #1 --"
    )


async def test_tail_epoch_arguments(server: Server) -> None:
    """--epoch needs --since, and the protocol's shape; both refused with status 2."""
    code, _, err = await hubbub("tail", "r", "--epoch", "abc", "--url", server.url)
    assert code == 2 and "--epoch is the epoch of a cursor: give --since with it" in err
    code, _, err = await hubbub("tail", "r", "--since", "1", "--epoch", "a:b", "--url", server.url)
    assert code == 2 and "--epoch" in err


async def test_tail_text_lines(start_server: StartServer) -> None:
    """Without --json: a gap note, then "time user: text" lines, uncoloured in a pipe."""
    server = await start_server(retain=1)
    async with Client(server.url) as client:
        await client.publish("r", "alice", "old")
        await client.publish("r", "alice", "two\nlines")
    code, out, _ = await hubbub("tail", "r", "--since", "0", "--count", "1", "--url", server.url)
    assert code == 0
    gap, first, second = out.splitlines()
    assert gap == "-- 1 message missed: #1 to #1 are no longer kept (the room keeps #2 to #2) --"
    assert first.endswith(" alice: two") and second.strip() == "lines"
    assert "\x1b" not in out


async def test_tail_follows_live_messages_and_stops_on_sigint(server: Server) -> None:
    """Without --since only new messages are shown; Ctrl-C (SIGINT) exits 0."""
    async with Client(server.url) as client:
        await client.publish("r", "a", "before")
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "hubbub", "tail", "r", "--json", "--transport", "ws",
            "--url", server.url,
            stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            assert process.stdout is not None
            await wait_live(server, "r", 1)
            await client.publish("r", "a", "after")
            async with asyncio.timeout(TIMEOUT):
                line = await process.stdout.readline()
            assert orjson.loads(line)["text"] == "after"
            process.send_signal(signal.SIGINT)
            async with asyncio.timeout(TIMEOUT):
                assert await process.wait() == 0
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()


async def test_tail_ends_when_its_reader_does(server: Server) -> None:
    """Like tail -f | head -1: once the pipe's reader is gone, tail exits 0 at once."""
    async with Client(server.url) as client:
        for text in ("one", "two"):
            await client.publish("r", "a", text)
    read_end, write_end = os.pipe()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hubbub", "tail", "r", "--since", "1", "--url", server.url,
        stdout=write_end,
    )  # fmt: skip
    os.close(write_end)
    reader = asyncio.StreamReader()
    transport, _ = await asyncio.get_running_loop().connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(read_end, "rb", 0)
    )
    try:
        async with asyncio.timeout(TIMEOUT):
            assert (await reader.readline()).endswith(b" a: two\n")
            transport.close()  # no new message will ever come to fail a write
            assert await process.wait() == 0
    finally:
        transport.close()
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_tail_resumes_after_restart(start_server: StartServer) -> None:
    """tail keeps following across a server restart, without losing or repeating a line."""
    server = await start_server()
    async with Client(server.url) as client:
        await client.publish("r", "a", "one")
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "hubbub", "tail", "r", "--since", "0", "--json",
            "--count", "3", "--url", server.url,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            assert process.stdout is not None and process.stderr is not None
            async with asyncio.timeout(TIMEOUT):
                assert orjson.loads(await process.stdout.readline())["id"] == 1
                await server.stop()
                assert b"reconnecting" in await process.stderr.readline()
                await start_server(port=server.port)
                await client.publish("r", "a", "two", retry_for=TIMEOUT)
                await client.publish("r", "a", "three")
                out, _ = await process.communicate()
            assert [orjson.loads(line)["id"] for line in out.splitlines()] == [2, 3]
            assert process.returncode == 0
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()


async def test_tail_fails_fast(server: Server) -> None:
    """Unreachable at the start: status 3; a URL that is not hubbub's: status 1."""
    code, _, err = await hubbub("tail", "r", "--url", f"http://127.0.0.1:{free_port()}")
    assert code == 3 and "cannot reach the server" in err
    code, _, err = await hubbub("tail", "r", "--url", server.url + "/nope")
    assert code == 1 and "(not_found)" in err
