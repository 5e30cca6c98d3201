"""``hubbub tail ROOM``: follow a room, one line per message, for people and for pipes.

It reconnects by itself (a server restart loses and repeats nothing), reports
ids that are gone as a gap line, and tells about the connection on stderr. It
fails fast, with a one-line reason and a non-zero status, when the server cannot
be reached (3) or refuses (1) at the start.

With ``--json`` each line is one JSON object: a message exactly as the protocol
defines it, or ``{"type": "gap", "cursor", "first_id", "last_id", "reset"}``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import orjson

from hubbub.client import Connected, Gap, Status
from hubbub.client.console import (
    OK,
    add_colour,
    add_token,
    add_transport,
    add_url,
    make_client,
    run,
    while_read,
)
from hubbub.client.events import Event
from hubbub.client.terminal import LABELS, Renderer, wants_colour
from hubbub.commands.arguments import whole_number

PROG = "hubbub tail"


_cursor = whole_number(0)
_count = whole_number(1)


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "tail",
        help="follow a room's messages",
        description=(
            "Print ROOM's messages as they arrive. Exit status: 0 on Ctrl-C or after "
            "--count messages, 1 refused by the server, 2 bad arguments, 3 server unreachable."
        ),
    )
    parser.add_argument("room", metavar="ROOM")
    parser.add_argument(
        "--since",
        type=_cursor,
        metavar="N",
        help="start after message id N (0: everything the room keeps) [only new messages]",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument("--count", type=_count, metavar="N", help="exit after N messages")
    add_transport(parser)
    add_url(parser)
    add_token(parser)
    add_colour(parser)
    parser.set_defaults(run=main)


def main(args: argparse.Namespace) -> int:
    return run(PROG, while_read(tail(args)))


class _Status:
    """Connection news on stderr, once per change (not once per retry)."""

    def __init__(self) -> None:
        self.live = True  # so that a first failure to connect is reported

    def __call__(self, status: Status) -> None:
        if isinstance(status, Connected):
            if not self.live:
                print(f"{PROG}: connected ({LABELS[status.transport]})", file=sys.stderr)
            self.live = True
        elif self.live:
            self.live = False
            print(f"{PROG}: {status.reason}; reconnecting", file=sys.stderr)


def _json_line(event: Event) -> bytes:
    if isinstance(event, Gap):
        body: dict[str, Any] = {
            "type": "gap",
            "cursor": event.cursor,
            "first_id": event.first_id,
            "last_id": event.last_id,
            "reset": event.reset,
        }
        return orjson.dumps(body) + b"\n"
    return orjson.dumps(event.to_dict()) + b"\n"


async def tail(args: argparse.Namespace) -> int:
    renderer = Renderer(colour=wants_colour(args.color, sys.stdout))
    async with make_client(args.url, args.token) as client:
        # One plain read first: a wrong URL or room fails now, with a clear reason,
        # instead of being retried for ever by the subscription.
        page = await client.history(args.room, limit=1)
        since = args.since
        if since is None:
            since = page.messages[-1].id if page.messages else 0
        left = args.count
        async with client.subscribe(
            args.room, since, args.transport, on_status=_Status()
        ) as subscription:
            async for event in subscription:
                if args.json:
                    sys.stdout.buffer.write(_json_line(event))
                elif isinstance(event, Gap):
                    sys.stdout.write(renderer.gap(event) + "\n")
                else:
                    sys.stdout.write(renderer.message(event) + "\n")
                sys.stdout.flush()  # a pipe reader sees each line as it comes
                if left is not None and not isinstance(event, Gap):
                    left -= 1
                    if left == 0:
                        break
    return OK
