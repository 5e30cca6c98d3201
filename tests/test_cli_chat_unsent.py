"""``hubbub chat`` never loses a typed line silently: pending lines, and leaving with some.

A real server is stopped and started again on the same port and database while
the chat runs, on a pseudo-terminal and with standard input from a pipe.
"""

from __future__ import annotations

import asyncio
import re
import sys

from hubbub.server import Server
from tests.conftest import StartServer
from tests.test_cli_chat import TIME, Terminal, chat
from tests.test_cli_send_tail import TIMEOUT, texts

PENDING = "\u2026 pending  "


class Piped:
    """``hubbub chat`` with stdin, stdout and stderr on pipes, driven line by line."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.err = ""
        self._seen = 0

    @classmethod
    async def spawn(cls, server: Server, name: str, *extra: str) -> Piped:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "hubbub", "chat", "r", "--name", name, "--url", server.url,
            *extra,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        return cls(process)

    async def expect(self, pattern: str) -> None:
        """Wait (bounded) for ``pattern`` on stderr, after the last match."""
        assert self.process.stderr is not None
        regex = re.compile(pattern)
        async with asyncio.timeout(TIMEOUT):
            while not (match := regex.search(self.err, self._seen)):
                chunk = await self.process.stderr.read(4096)
                assert chunk, f"the chat ended; stderr:\n{self.err}"
                self.err += chunk.decode()
        self._seen = match.end()

    def write(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line.encode() + b"\n")

    async def finish(self) -> int:
        """Close stdin; the exit status once the chat has ended, all of stderr read."""
        assert self.process.stdin is not None and self.process.stderr is not None
        self.process.stdin.close()
        async with asyncio.timeout(TIMEOUT):
            self.err += (await self.process.stderr.read()).decode()
            return await self.process.wait()

    async def kill(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
            await self.process.wait()


async def test_pipe_lines_wait_for_a_restart(start_server: StartServer) -> None:
    """Piped lines read while the server is down are told as pending, then sent in order once."""
    server = await start_server()
    piped = await Piped.spawn(server, "bot")
    try:
        await piped.expect("-- live over ")
        await server.stop()
        await piped.expect("-- connection lost")
        piped.write("first while down")
        await piped.expect(f"{PENDING}bot: first while down")
        piped.write("second while down")
        await piped.expect(f"{PENDING}bot: second while down")
        await start_server(port=server.port)
        await piped.expect("-- 2 pending lines sent --")
        assert await piped.finish() == 0
        assert "not sent" not in piped.err
    finally:
        await piped.kill()
    assert await texts(server) == [("bot", "first while down"), ("bot", "second while down")]


async def test_pipe_closed_with_lines_unsent_exits_1(start_server: StartServer) -> None:
    """stdin ends while the server is down: after --wait, the count and the lines, status 1."""
    server = await start_server()
    piped = await Piped.spawn(server, "bot", "--wait", "0.2")
    try:
        await piped.expect("-- live over ")
        await server.stop()
        await piped.expect("-- connection lost")
        piped.write("lost?")
        piped.write("not lost")
        await piped.expect(f"{PENDING}bot: not lost")
        assert await piped.finish() == 1
    finally:
        await piped.kill()
    assert "-- sending 2 lines before leaving (up to 0.2 s)" in piped.err
    assert piped.err.endswith("hubbub chat: 2 lines were not sent:\n  lost?\n  not lost\n")
    restarted = await start_server(port=server.port)
    assert await texts(restarted) == []


async def test_terminal_ctrl_d_with_a_line_unsent_exits_1(start_server: StartServer) -> None:
    """Ctrl-D while a line waits for a server that stays down: the line is printed, status 1."""
    server = await start_server()
    async with chat(server, "alice", "--wait", "0.2") as alice:
        await server.stop()
        await alice.expect("connection lost")
        alice.type("are you there?\r")
        await alice.expect(f"{PENDING}alice: are you there\\?")
        alice.type("\x04")
        await alice.expect("sending 1 line before leaving")
        assert await alice.exit_status() == 1
        await alice.expect("hubbub chat: 1 line was not sent:\r?\n  are you there\\?")


async def test_terminal_ctrl_c_reports_pending_and_half_typed_lines(
    start_server: StartServer,
) -> None:
    """Ctrl-C leaves at once; a pending line and the half-typed one are both printed, status 1."""
    server = await start_server()
    async with chat(server, "alice") as alice:
        await server.stop()
        await alice.expect("connection lost")
        alice.type("sent later?\rhalf typ")
        await alice.expect(f"{PENDING}alice: sent later\\?")
        await alice.expect("alice> half typ")
        alice.type("\x03")
        assert await alice.exit_status() == 1
        await alice.expect("hubbub chat: 2 lines were not sent:\r?\n  sent later\\?\r?\n")
        await alice.expect("  half typ  \\(not finished\\)")


async def test_terminal_ctrl_c_with_a_half_typed_line(server: Server) -> None:
    """With the server up, Ctrl-C on a half-typed line still tells it was not sent."""
    async with chat(server, "alice") as alice:
        alice.type("sent\rnot this")
        await alice.expect(rf"> {TIME} alice: sent")
        await alice.expect("alice> not this")
        alice.type("\x03")
        assert await alice.exit_status() == 1
        await alice.expect("1 line was not sent:\r?\n  not this  \\(not finished\\)")
    assert await texts(server) == [("alice", "sent")]


async def test_terminal_leaves_cleanly_when_all_was_sent(server: Server) -> None:
    """Ctrl-C with nothing typed and nothing pending: status 0, nothing to report."""
    async with chat(server, "alice") as alice:
        alice.type("hello\r")
        await alice.expect(rf"> {TIME} alice: hello")
        alice.type("\x03")
        assert await alice.exit_status() == 0
        assert "not sent" not in alice.text


async def test_long_notes_wrap_at_words(start_server: StartServer) -> None:
    """On a narrow terminal a note is wrapped at spaces; its closing -- never stands alone."""
    server = await start_server()
    terminal = await Terminal.spawn(
        "chat", "r", "--name", "n", "--url", server.url, "--color", "never", columns=30
    )
    try:
        await terminal.expect("-- live over")
        await server.stop()
        await terminal.expect("reconnecting --")
        # The screen as drawn: a row the prompt started is overwritten after its \r.
        rows = [re.sub(r"^(n> ?)+", "", row) for row in terminal.text.split("\n")]
        rows = [row.replace("\r", "").rstrip() for row in rows]
        assert all(len(row) <= 29 for row in rows), rows
        assert "--" not in [row.strip() for row in rows], rows
        assert "   reconnecting --" in rows, rows
    finally:
        await terminal.close()
