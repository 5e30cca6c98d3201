"""``hubbub send ROOM [TEXT] --name NAME``: publish a message, or one per line of stdin.

For scripts: quiet on success (``--json`` prints each stored message), a one-line
reason on stderr and a non-zero status otherwise: 1 when the server refuses a
message, 3 when it cannot be reached.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import AsyncIterator
from typing import Any

import orjson

from hubbub.client import ClientError, new_client_id
from hubbub.commands.arguments import non_negative_number
from hubbub.commands.console import (
    OK,
    add_name,
    add_tls,
    add_token,
    add_url,
    check_name,
    make_client,
    report,
    run,
    tls_of,
)
from hubbub.commands.lineedit import read_lines

PROG = "hubbub send"


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "send",
        help="publish messages to a room",
        description=(
            "Publish TEXT to ROOM, or with no TEXT each line of standard input as one "
            "message (blank lines are skipped). Exit status: 0 all sent, 1 refused by "
            "the server, 2 bad arguments, 3 server unreachable."
        ),
    )
    parser.add_argument("room", metavar="ROOM")
    parser.add_argument(
        "text", metavar="TEXT", nargs="?", help="the message (default: each line of standard input)"
    )
    add_name(parser)
    add_url(parser)
    add_token(parser)
    add_tls(parser)
    parser.add_argument("--json", action="store_true", help="print each stored message as JSON")
    parser.add_argument(
        "--retry",
        type=non_negative_number,
        default=0.0,
        metavar="SECONDS",
        help="keep retrying an unreachable or busy server this long (0: fail at once)",
    )
    parser.set_defaults(run=main)


def main(args: argparse.Namespace) -> int:
    return run(PROG, send(args), args.url)


async def _stdin_lines() -> AsyncIterator[str]:
    queue: asyncio.Queue[str | None] = asyncio.Queue()
    read_lines(sys.stdin.buffer, queue)
    while (line := await queue.get()) is not None:
        yield line


async def _texts(args: argparse.Namespace) -> AsyncIterator[str]:
    if args.text is not None:
        yield args.text
        return
    async for line in _stdin_lines():
        if line.strip():  # a blank line cannot be a message
            yield line


async def send(args: argparse.Namespace) -> int:
    name = check_name(args.name, args.token)
    async with make_client(args.url, args.token, tls=tls_of(args)) as client:
        sent = 0
        async for text in _texts(args):
            try:
                # A client_id makes the retries safe: a publish whose answer was
                # lost is answered with the stored message, not stored twice.
                message = await client.publish(
                    args.room, name, text, new_client_id(), retry_for=args.retry
                )
            except ClientError as error:
                if sent:
                    print(f"{PROG}: {sent} message(s) sent before this one", file=sys.stderr)
                return report(PROG, error, args.url)
            sent += 1
            if args.json:
                sys.stdout.buffer.write(orjson.dumps(message.to_dict()) + b"\n")
                sys.stdout.flush()
    return OK
