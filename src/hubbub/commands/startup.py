"""Why ``hubbub serve`` could not start, in one line that says what to change.

The server raises what the operating system and SQLite say ("[Errno 98] Address
already in use", "unable to open database file"); a person starting it needs the
flag to change, so each cause is named with its flag here.
"""

from __future__ import annotations

import errno
import os
import socket

from hubbub.errors import HubbubError, StoreError
from hubbub.settings import Settings


class StartupError(HubbubError):
    """A setting that cannot work, found before the server starts."""


def check_static(settings: Settings) -> None:
    """Refuse a ``--static DIR`` that is not a directory, before anything starts."""
    if settings.static_dir is not None and not os.path.isdir(settings.static_dir):
        raise StartupError(
            f"--static {settings.static_dir}: no such directory; give the folder of the page "
            "to serve at /"
        )


def check_access_log(settings: Settings) -> None:
    """Refuse an ``--access-log`` file that cannot be opened for appending, before listening."""
    path = settings.access_log
    if path is None or path == "-":
        return
    try:
        with open(path, "a", encoding="utf-8"):
            pass
    except OSError as exc:
        raise StartupError(
            f"--access-log {path}: {exc.strerror or exc}; give a file you can write, or -"
        ) from None


def check_db(settings: Settings) -> None:
    """Refuse a ``--db`` whose directory is missing or not writable, before opening it."""
    if settings.store != "sqlite":
        return
    directory = os.path.dirname(os.path.abspath(settings.db))
    if not os.path.isdir(directory):
        raise StartupError(
            f"--db {settings.db}: the directory {directory} does not exist; "
            "create it or choose another --db"
        )
    if os.path.isdir(settings.db):
        raise StartupError(f"--db {settings.db} is a directory; give a file path in it")
    # SQLite writes the database, its -wal and -shm files next to each other.
    if not os.access(directory, os.W_OK | os.X_OK):
        raise StartupError(
            f"--db {settings.db}: cannot write in {directory}; "
            "choose a directory you can write in, or fix its permissions"
        )


def explain(exc: BaseException, settings: Settings) -> str:
    """One line for a failure to start: what went wrong and which flag to change."""
    where = f"{settings.host}:{settings.port}"
    if isinstance(exc, StartupError):
        return str(exc)
    if isinstance(exc, StoreError) and settings.store != "sqlite":
        return str(exc)  # the Redis store says itself what to set
    if isinstance(exc, StoreError):
        return (
            f"cannot open the database {settings.db} ({exc}); "
            "check that --db names a SQLite file you can write"
        )
    if isinstance(exc, socket.gaierror):
        return (
            f"--host {settings.host} does not resolve to an address; "
            "give an address of this machine, e.g. 127.0.0.1 or 0.0.0.0"
        )
    if isinstance(exc, OSError):
        if exc.errno == errno.EADDRINUSE:
            return (
                f"port {settings.port} on {settings.host} is already in use (another hubbub?); "
                "stop that server or choose another --port"
            )
        if exc.errno == errno.EADDRNOTAVAIL:
            return (
                f"--host {settings.host} is not an address of this machine; "
                "use one it has, e.g. 127.0.0.1 or 0.0.0.0"
            )
        if exc.errno == errno.EACCES:
            return (
                f"not allowed to listen on {where} (ports below 1024 need privileges); "
                "choose another --port"
            )
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        return f"cannot listen on {where}: {reason}; check --host and --port"
    return str(exc)
