"""``hubbub tail ROOM``: follow a room, one line per message, for people and for pipes.

It reconnects by itself (a server restart loses and repeats nothing), reports
ids that are gone as a gap line, and tells about the connection on stderr. It
fails fast, with a one-line reason and a non-zero status, when the server cannot
be reached (3) or refuses (1) at the start.

With ``--json`` each line is one JSON object: a message as the protocol defines
it plus ``epoch``, the epoch of the room's log it belongs to (so the last line
is a cursor to resume from with ``--since ID --epoch EPOCH``), or
``{"type": "gap", "cursor", "first_id", "last_id", "reset", "epoch"}``. A room
whose log started over (a reset) is a gap with ``reset`` true.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import orjson

from hubbub.client import Connected, Gap, Status
from hubbub.client.events import Event
from hubbub.commands.arguments import whole_number
from hubbub.commands.console import (
    OK,
    USAGE,
    add_colour,
    add_tls,
    add_token,
    add_transport,
    add_url,
    make_client,
    run,
    tls_of,
    while_read,
)
from hubbub.commands.terminal import LABELS, Renderer, wants_colour
from hubbub.protocol.cursors import EPOCH

PROG = "hubbub tail"


_cursor = whole_number(0)
_count = whole_number(1)


def _epoch(text: str) -> str:
    if EPOCH.fullmatch(text) is None:
        raise ValueError(text)
    return text


_epoch.__name__ = "epoch (1 to 64 of A-Z a-z 0-9 _ -)"


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
        help="start after message id N (0: everything the room keeps) (default: new messages only)",
    )
    parser.add_argument(
        "--epoch",
        type=_epoch,
        metavar="E",
        help="the epoch --since was read in (the epoch of --json lines): a room whose log "
        "started over since is told as a reset gap (default: none)",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument(
        "--count",
        type=_count,
        metavar="N",
        help="exit after N messages (default: follow until Ctrl-C)",
    )
    add_transport(parser)
    add_url(parser)
    add_token(parser)
    add_tls(parser)
    add_colour(parser)
    parser.set_defaults(run=main)


def main(args: argparse.Namespace) -> int:
    if args.epoch is not None and args.since is None:
        print(f"{PROG}: --epoch is the epoch of a cursor: give --since with it", file=sys.stderr)
        return USAGE
    return run(PROG, while_read(tail(args)), args.url)


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


def _json_line(event: Event, epoch: str | None) -> bytes:
    """One line: ``epoch`` is the epoch the event belongs to (None if the server names none)."""
    if isinstance(event, Gap):
        body: dict[str, Any] = {
            "type": "gap",
            "cursor": event.cursor,
            "first_id": event.first_id,
            "last_id": event.last_id,
            "reset": event.reset,
            "epoch": event.epoch,
        }
        return orjson.dumps(body) + b"\n"
    body = event.to_dict()
    if epoch is not None:
        body["epoch"] = epoch
    return orjson.dumps(body) + b"\n"


async def tail(args: argparse.Namespace) -> int:
    renderer = Renderer(colour=wants_colour(args.color, sys.stdout))
    async with make_client(args.url, args.token, tls=tls_of(args)) as client:
        # One plain read first: a wrong URL or room fails now, with a clear reason,
        # instead of being retried for ever by the subscription.
        page = await client.history(args.room, limit=1)
        since, epoch = args.since, args.epoch
        if since is None:
            since = page.messages[-1].id if page.messages else 0
            epoch = page.epoch
        left = args.count
        async with client.subscribe(
            args.room, since, args.transport, epoch=epoch, on_status=_Status()
        ) as subscription:
            async for event in subscription:
                if args.json:
                    sys.stdout.buffer.write(_json_line(event, subscription.epoch))
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
