"""What ``hubbub chat``, ``send`` and ``tail`` share: options, exit statuses, error reports."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import stat
import sys
from collections.abc import Coroutine
from typing import Any

import jwt

from hubbub.client.backoff import Backoff
from hubbub.client.client import Client
from hubbub.client.errors import ClientError, HostNotFound, Refused, Unreachable
from hubbub.client.events import TRANSPORTS
from hubbub.errors import InvalidMessage
from hubbub.protocol.messages import validate_user

# Exit statuses, the same for every client command.
OK = 0
FAILED = 1  # the server refused, or answered something the protocol does not allow
USAGE = 2  # argparse's own status for bad arguments
UNREACHABLE = 3  # nothing answered at --url

DEFAULT_URL = "http://127.0.0.1:8000"


def add_url(parser: argparse.ArgumentParser) -> None:
    default = os.environ.get("HUBBUB_URL", DEFAULT_URL)
    parser.add_argument("--url", default=default, help="the server; env HUBBUB_URL")


def add_name(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--name",
        default=os.environ.get("HUBBUB_NAME") or None,  # set but empty counts as unset
        help="who you are in the room; with --token, the token's user [env HUBBUB_NAME]",
    )


def add_token(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--token",
        default=os.environ.get("HUBBUB_TOKEN") or None,
        help="access token, for a server with access control on [env HUBBUB_TOKEN] (default: none)",
    )


def add_transport(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--transport",
        choices=["auto", *TRANSPORTS],
        default="auto",
        help="how to follow the room; auto tries ws, sse, longpoll, poll in turn",
    )


def add_colour(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--color",
        choices=["auto", "always", "never"],
        default="auto",
        help="colour the output: auto means on a terminal, unless NO_COLOR is set",
    )


def make_client(url: str, token: str | None = None, presence_user: str | None = None) -> Client:
    """The commands' client: a person is waiting, so reconnecting is never more than 5 s away.
    ``presence_user``: the name its streams are present under."""
    return Client(
        url,
        token=token,
        backoff=Backoff(initial=0.25, maximum=5.0),
        presence_user=presence_user,
    )


def check_name(name: str | None, token: str | None = None) -> str:
    """The user name as the server will store it (trimmed), or ``ValueError`` up front.

    Without ``--name``, a token's user (its ``sub``, read without checking the
    signature: the server checks it) is the name.
    """
    if name is None and token is not None:
        name = token_user(token)
    if name is None:
        raise ValueError("--name NAME (or HUBBUB_NAME, or --token) is required")
    try:
        return validate_user(name)
    except InvalidMessage as exc:
        raise ValueError(f"--name: {exc}") from None


def token_user(token: str) -> str:
    """The ``sub`` of a token, for showing who you are; ValueError if it has none."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise ValueError("--token is not a JWT") from None
    sub = claims.get("sub")
    if not isinstance(sub, str):
        raise ValueError("--token has no user (sub claim)")
    return sub


def report(prog: str, error: Exception) -> int:
    """Print a one-line reason for ``error`` on stderr; the exit status that goes with it."""
    if isinstance(error, HostNotFound):
        print(f"{prog}: {error}; check the host name in --url", file=sys.stderr)
        return USAGE
    if isinstance(error, Unreachable):
        print(f"{prog}: cannot reach the server: {error}", file=sys.stderr)
        return UNREACHABLE
    if isinstance(error, Refused):
        print(f"{prog}: the server refused: {error.message} ({error.code})", file=sys.stderr)
        return FAILED
    if isinstance(error, ClientError):
        print(f"{prog}: {error}", file=sys.stderr)
        return FAILED
    print(f"{prog}: {error}", file=sys.stderr)
    return USAGE


def run(prog: str, main: Coroutine[Any, Any, int]) -> int:
    """Run a command's coroutine; Ctrl-C or SIGTERM stop it cleanly (status 0).

    A client error or a bad argument becomes a one-line message and its status,
    never a traceback. Output cut by a closed pipe (``| head``) ends quietly.
    """
    try:
        return asyncio.run(_interruptible(main))
    except (ClientError, ValueError) as error:
        return report(prog, error)
    except BrokenPipeError:
        # Python flushes stdout again at exit; point it at /dev/null so that
        # flush does not fail a second time (see the signal module's docs).
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return OK


async def while_read(work: Coroutine[Any, Any, int]) -> int:
    """Run ``work``, but end it quietly once nobody reads standard output any more.

    As GNU ``tail -f`` does: ``hubbub tail r | grep -m1 x`` ends when grep does,
    not at the next message. When stdout is a pipe, epoll reports an error on its
    write end as soon as the read end is closed, which wakes a reader callback.
    """
    loop = asyncio.get_running_loop()
    task = loop.create_task(work)
    fd = sys.stdout.fileno()
    if not stat.S_ISFIFO(os.fstat(fd).st_mode):
        return await task
    gone = asyncio.Event()
    loop.add_reader(fd, gone.set)
    watch = loop.create_task(gone.wait())
    reader_left = False
    try:
        await asyncio.wait([task, watch], return_when=asyncio.FIRST_COMPLETED)
    finally:
        loop.remove_reader(fd)
        watch.cancel()
        if not task.done():
            reader_left = gone.is_set()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    if reader_left:
        raise BrokenPipeError("nobody reads standard output any more")
    return task.result()


async def _interruptible(main: Coroutine[Any, Any, int]) -> int:
    loop = asyncio.get_running_loop()
    task = loop.create_task(main)
    stopped = False

    def stop() -> None:
        nonlocal stopped
        stopped = True
        task.cancel()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop)
    try:
        return await task
    except asyncio.CancelledError:
        if stopped:
            return OK
        raise
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError, RuntimeError):
                loop.remove_signal_handler(signum)
