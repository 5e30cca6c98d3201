"""The listening socket of one server process, watched by several handles of the loop,
so that a reconnect storm is accepted in batches.

libuv (under uvloop) accepts one connection per listening handle per loop iteration
(libuv#3696: "don't accept() connections in a loop"). In a storm of 15,000 users that
capped accepts at the rate of iterations: the kernel's accept queue held nearly the whole
storm, the server paid an iteration for every connection, and the connect rate stayed
near 4,700/s (issue 19). Each of the ``HANDLES`` handles holds a duplicate of the one
listening socket (``dup``: one socket, one accept queue, one port bound once), and each
accepts up to one connection an iteration. When fewer connections wait than there are
handles, the others' ``accept`` finds none (``EAGAIN``) and returns: a few system calls
of under a microsecond.

Nothing about the port changes: it is bound once, as before, by the first listener
(``SO_REUSEPORT`` only under ``serve --workers N``, whose processes share the port on
purpose).
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Callable

# Pending connections the kernel keeps for accept (a reconnect storm arrives at once).
BACKLOG = 4096
# Handles on one listening socket. A 15,000-user storm with 1, 4, 8 and 16 (tried as
# sockets of one SO_REUSEPORT group, which accept alike): about 168, 151, 139 and 156 us
# of server CPU a connect; past 8 the benchmark's generator, not the server, set the pace.
HANDLES = 8
# Below this file limit a process keeps one handle. Its reserve of descriptors (a tenth,
# at least 32: http/guard.py) must also hold the duplicates and a turn's accepts (up to
# one a handle, refused ones closed after), and an accept that finds the limit reached
# makes libuv close every connection still queued. With a limit of 200, 8 handles did
# that; from 1,024 the reserve (102) holds them with room to spare.
SMALL_FILE_LIMIT = 1024


def handles_for(file_limit: int) -> int:
    """How many handles watch the listening socket of a process with ``file_limit``."""
    return HANDLES if file_limit >= SMALL_FILE_LIMIT else 1


ProtocolFactory = Callable[[], asyncio.Protocol]


async def open_listeners(
    loop: asyncio.AbstractEventLoop,
    factory: ProtocolFactory,
    host: str,
    port: int,
    *,
    shared: bool,
    handles: int = HANDLES,
) -> list[asyncio.Server]:
    """Listen on ``host:port``, each of its listening sockets watched by ``handles``
    handles of the loop. ``shared``: other processes (``serve --workers N``) bind the same
    port on purpose (``SO_REUSEPORT``). The first listener binds (and picks the port,
    with ``port=0``); the others watch duplicates of its sockets."""
    first = await loop.create_server(
        factory, host, port, backlog=BACKLOG, reuse_port=shared or None
    )
    listeners = [first]
    try:
        for _ in range(handles - 1):
            for bound in first.sockets:
                duplicate = socket.socket(fileno=os.dup(bound.fileno()))
                try:
                    listeners.append(
                        await loop.create_server(factory, sock=duplicate, backlog=BACKLOG)
                    )
                except BaseException:
                    duplicate.close()
                    raise
    except BaseException:
        for listener in listeners:
            listener.close()
        raise
    return listeners
