"""A server's listening socket, watched by several handles of the loop: a storm accepted
in batches, the port bound once as before, nothing left open after."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import socket
import time
from pathlib import Path

import pytest

from hubbub.http.listeners import HANDLES, SMALL_FILE_LIMIT, handles_for, open_listeners
from hubbub.server import Server
from hubbub.settings import Settings


class Iterations:
    """Counts the event loop's iterations: a callback that puts itself back each time."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.count = 0
        self._loop = loop
        self._handle = loop.call_soon(self._tick)

    def _tick(self) -> None:
        self.count += 1
        self._handle = self._loop.call_soon(self._tick)

    def stop(self) -> None:
        self._handle.cancel()


def test_one_handle_under_a_small_file_limit() -> None:
    """A small file limit's reserve holds no turn of 8 accepts (tests/test_harden_limits.py
    runs servers at 200 descriptors)."""
    assert handles_for(200) == handles_for(SMALL_FILE_LIMIT - 1) == 1
    assert handles_for(SMALL_FILE_LIMIT) == handles_for(65536) == HANDLES


async def test_a_burst_of_connections_is_accepted_several_an_iteration() -> None:
    """Connections waiting in the kernel's queue when the loop comes back are accepted
    one a handle in one iteration. (libuv accepts one a listening handle an iteration:
    with one handle, every connection of a storm cost an iteration of its own.)"""
    loop = asyncio.get_running_loop()
    iterations = Iterations(loop)
    accepted_at: list[int] = []

    def factory() -> asyncio.Protocol:
        accepted_at.append(iterations.count)
        return asyncio.Protocol()

    listeners = await open_listeners(loop, factory, "127.0.0.1", 0, shared=False)
    clients: list[socket.socket] = []
    try:
        assert len(listeners) == HANDLES
        port = listeners[0].sockets[0].getsockname()[1]
        # 32 connections complete in the kernel while the loop is held in this callback:
        # all are queued before the loop next looks at its handles.
        for _ in range(32):
            client = socket.create_connection(("127.0.0.1", port), timeout=5)
            clients.append(client)
        deadline = time.monotonic() + 10
        while len(accepted_at) < 32:
            assert time.monotonic() < deadline, f"accepted {len(accepted_at)} of 32"
            await asyncio.sleep(0)
        # Every handle saw the queue readable in the same poll: 8 at once, not 1.
        assert accepted_at.count(accepted_at[0]) == HANDLES >= 8, accepted_at
    finally:
        iterations.stop()
        for client in clients:
            client.close()
        for listener in listeners:
            listener.close()


async def test_a_port_another_server_holds_is_refused(tmp_path: Path) -> None:
    """A second server on a running server's port is refused (address in use)."""
    first = Server(Settings(host="127.0.0.1", port=0, db=str(tmp_path / "a.db")))
    await first.start()
    try:
        second = Server(Settings(host="127.0.0.1", port=first.port, db=str(tmp_path / "b.db")))
        with pytest.raises(OSError, match="in use") as refused:
            await second.start()
        assert refused.value.errno == errno.EADDRINUSE
        await second.stop()
        # The first still answers: nothing of the second was left bound to the port.
        reader, writer = await asyncio.open_connection("127.0.0.1", first.port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        assert (await asyncio.wait_for(reader.read(), 10)).startswith(b"HTTP/1.1 200")
        writer.close()
    finally:
        await first.stop()


async def test_a_socket_sharing_the_port_on_purpose_is_refused_too() -> None:
    """Even a listener with SO_REUSEPORT of this same user: the server's own socket does
    not share its port (only ``serve --workers N`` does)."""
    loop = asyncio.get_running_loop()
    with socket.socket() as other:
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        with pytest.raises(OSError, match="in use") as refused:
            await open_listeners(loop, asyncio.Protocol, "127.0.0.1", port, shared=False)
        assert refused.value.errno == errno.EADDRINUSE


async def test_workers_join_one_port() -> None:
    """``serve --workers N``: each worker's listeners (``SO_REUSEPORT``, their handles on
    it) join the port the parent holds."""
    loop = asyncio.get_running_loop()
    with socket.socket() as holder:  # as commands/workers.py holds a port for its workers
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        holder.bind(("127.0.0.1", 0))
        port = holder.getsockname()[1]
        workers = [
            await open_listeners(loop, asyncio.Protocol, "127.0.0.1", port, shared=True)
            for _ in range(2)
        ]
        try:
            bound = {s.sockets[0].getsockname()[1] for group in workers for s in group}
            assert bound == {port} and sum(map(len, workers)) == 2 * HANDLES
        finally:
            for group in workers:
                for listener in group:
                    listener.close()


def open_sockets() -> int:
    """Sockets this process holds (the loop opens a file of its own once, not counted)."""
    held = 0
    for name in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # the directory's own descriptor, closed by now
            held += os.readlink(f"/proc/self/fd/{name}").startswith("socket:")
    return held


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts /proc/self/fd")
async def test_listening_stops_with_the_server(tmp_path: Path) -> None:
    """After stop, no duplicate is left open: the port binds plainly again, and the
    process holds as many sockets as before."""
    before = open_sockets()
    server = Server(Settings(host="127.0.0.1", port=0, db=str(tmp_path / "a.db")))
    await server.start()
    assert open_sockets() >= before + HANDLES
    port = server.port
    await server.stop()
    with socket.socket() as again:
        again.bind(("127.0.0.1", port))
    assert open_sockets() == before


async def test_a_restart_on_the_port_binds_at_once(tmp_path: Path) -> None:
    """Connections the server closed (in TIME_WAIT) do not keep a new server off the
    port, as they did when the sockets shared it with SO_REUSEPORT."""
    server = Server(Settings(host="127.0.0.1", port=0, db=str(tmp_path / "a.db")))
    await server.start()
    for _ in range(3):
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        assert (await asyncio.wait_for(reader.read(), 10)).startswith(b"HTTP/1.1 200")
        writer.close()
    await server.stop()
    again = Server(Settings(host="127.0.0.1", port=server.port, db=str(tmp_path / "a.db")))
    await again.start()
    await again.stop()
