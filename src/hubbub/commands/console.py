"""What ``hubbub chat``, ``send`` and ``tail`` share: options, exit statuses, error reports."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import ssl
import stat
import sys
from collections.abc import Coroutine
from typing import Any

import jwt

from hubbub.client.backoff import Backoff
from hubbub.client.client import Client
from hubbub.client.errors import (
    ClientError,
    HostNotFound,
    Refused,
    Unreachable,
    UntrustedCertificate,
)
from hubbub.client.events import TRANSPORTS
from hubbub.errors import InvalidMessage
from hubbub.protocol.messages import validate_user

# Exit statuses, the same for every client command.
OK = 0
FAILED = 1  # the server refused, or answered something the protocol does not allow
USAGE = 2  # argparse's own status for bad arguments
UNREACHABLE = 3  # nothing answered at --url

DEFAULT_URL = "http://127.0.0.1:8000"


def base_url(text: str) -> str:
    """``--url`` as people type it: ``localhost:8000`` (as curl takes it) is http://."""
    text = text.strip()
    return text if "://" in text else f"http://{text}"


def add_url(parser: argparse.ArgumentParser) -> None:
    default = base_url(os.environ.get("HUBBUB_URL", DEFAULT_URL))
    parser.add_argument("--url", type=base_url, default=default, help="the server; env HUBBUB_URL")


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


def add_tls(parser: argparse.ArgumentParser) -> None:
    """``--cacert`` and ``--insecure``: how an https:// server's certificate is checked."""
    trust = parser.add_mutually_exclusive_group()
    trust.add_argument(
        "--cacert",
        metavar="FILE",
        default=os.environ.get("HUBBUB_CACERT") or None,
        help="trust the CA certificate(s) in this PEM file, instead of the system's, for an "
        "https:// --url [env HUBBUB_CACERT] (default: the system's CAs)",
    )
    trust.add_argument(
        "--insecure",
        action="store_true",
        help="do not check the server's certificate at all, for a test server only "
        "(default: checked)",
    )


def tls_of(args: argparse.Namespace) -> ssl.SSLContext | bool | None:
    """The client's ``ssl=`` from ``--cacert``/``--insecure``; ValueError for an unusable file."""
    if args.insecure:
        return False
    if args.cacert is None:
        return None
    try:
        return ssl.create_default_context(cafile=args.cacert)
    except ssl.SSLError:  # before OSError, its base class
        raise ValueError(f"--cacert {args.cacert}: no PEM certificate in it") from None
    except OSError as exc:
        raise ValueError(f"--cacert {args.cacert}: {exc.strerror or exc}") from None


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


def make_client(
    url: str,
    token: str | None = None,
    presence_user: str | None = None,
    tls: ssl.SSLContext | bool | None = None,
) -> Client:
    """The commands' client: a person is waiting, so reconnecting is never more than 5 s away.
    ``presence_user``: the name its streams are present under; ``tls``: see :func:`tls_of`."""
    return Client(
        url,
        token=token,
        ssl=tls,
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


def report(prog: str, error: Exception, url: str | None = None) -> int:
    """Print a one-line reason for ``error`` on stderr; the exit status that goes with it.
    ``url``: the ``--url`` asked, named when the server has no such route there."""
    if isinstance(error, UntrustedCertificate):
        print(
            f"{prog}: cannot reach the server: {error}; give --cacert FILE (or HUBBUB_CACERT) "
            "with the CA that signed it",
            file=sys.stderr,
        )
        return UNREACHABLE
    if isinstance(error, HostNotFound):
        print(f"{prog}: {error}; check the host name in --url", file=sys.stderr)
        return USAGE
    if isinstance(error, Unreachable):
        print(f"{prog}: cannot reach the server: {error}", file=sys.stderr)
        return UNREACHABLE
    if isinstance(error, Refused):
        hint = ""
        if error.status == 404 and url is not None:
            # hubbub has every route the commands use: a 404 is a base URL with a path,
            # or another server.
            hint = f"; check --url ({url}): it is the server's address, without a path"
        print(f"{prog}: the server refused: {error.message} ({error.code}){hint}", file=sys.stderr)
        return FAILED
    if isinstance(error, ClientError):
        print(f"{prog}: {error}", file=sys.stderr)
        return FAILED
    print(f"{prog}: {error}", file=sys.stderr)
    return USAGE


def run(prog: str, main: Coroutine[Any, Any, int], url: str | None = None) -> int:
    """Run a command's coroutine; Ctrl-C or SIGTERM stop it cleanly (status 0).

    A client error or a bad argument becomes a one-line message and its status,
    never a traceback. Output cut by a closed pipe (``| head``) ends quietly.
    """
    try:
        return asyncio.run(_interruptible(main))
    except (ClientError, ValueError) as error:
        return report(prog, error, url)
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
