"""``hubbub search [ROOM] QUERY``: the messages that match, newest first.

One line per hit: room and id, time, user, the text with the matched parts marked
(bold on a terminal, ``[brackets]`` otherwise), ``(edited)`` when it was. ``--json``
prints each hit as the server sent it. Exit status: 0 (also when nothing matched),
1 the server refused (a bad query says why), 2 bad arguments, 3 server unreachable.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import orjson

from hubbub.client import ClientError
from hubbub.client.search import Hit
from hubbub.commands.arguments import whole_number
from hubbub.commands.console import (
    OK,
    USAGE,
    add_colour,
    add_tls,
    add_token,
    add_url,
    make_client,
    report,
    run,
    tls_of,
)
from hubbub.commands.terminal import BOLD, RESET, Renderer, clock, printable, wants_colour

PROG = "hubbub search"


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "search",
        help="search the history of one room or of every room",
        description=(
            "Print the messages matching QUERY, newest first: in ROOM, or in every room "
            "(the token's, with access control on). QUERY is one argument: words (all must "
            'match), "exact phrases", prefix*, from:NAME. Exit status: 0 (also when nothing '
            "matched), 1 refused by the server, 2 bad arguments, 3 server unreachable."
        ),
    )
    parser.add_argument("words", nargs="+", metavar="[ROOM] QUERY")
    parser.add_argument(
        "--limit",
        type=whole_number(1, 100),
        default=20,
        metavar="N",
        help="hits to print, 1 to 100",
    )
    parser.add_argument(
        "--rooms", metavar="A,B", help="without ROOM: search only these rooms (comma-separated)"
    )
    add_url(parser)
    add_tls(parser)
    add_token(parser)
    add_colour(parser)
    parser.add_argument("--json", action="store_true", help="print each hit as JSON")
    parser.set_defaults(run=main)


def main(args: argparse.Namespace) -> int:
    if len(args.words) > 2:
        print(
            f"{PROG}: give QUERY as one argument, in quotes (see '{PROG} --help')", file=sys.stderr
        )
        return USAGE
    return run(PROG, search(args))


def marked(hit: Hit, colour: bool) -> str:
    """The hit's text with its matched ranges marked."""
    text, parts, at = hit.message.text, [], 0
    start_mark, end_mark = (BOLD, RESET) if colour else ("[", "]")
    for start, end in hit.ranges:
        parts += [text[at:start], start_mark, text[start:end], end_mark]
        at = end
    parts.append(text[at:])
    return printable("".join(parts))


async def search(args: argparse.Namespace) -> int:
    room, query = (args.words[0], args.words[1]) if len(args.words) == 2 else (None, args.words[0])
    rooms = [name.strip() for name in args.rooms.split(",")] if args.rooms else None
    colour = wants_colour(args.color, sys.stdout)
    renderer = Renderer(colour=colour)
    async with make_client(args.url, args.token, tls=tls_of(args)) as client:
        try:
            page = await client.search(query, room, rooms=rooms, limit=args.limit)
        except (ClientError, ValueError) as error:
            return report(PROG, error)
    for hit in page.hits:
        message = hit.message
        if args.json:
            body = {**message.to_dict(), "ranges": [list(r) for r in hit.ranges]}
            sys.stdout.buffer.write(orjson.dumps(body) + b"\n")
            continue
        edited = " (edited)" if hit.edited else ""
        print(
            f"{message.room}#{message.id} {clock(message.ts)} {renderer.name(message.user)}: "
            f"{marked(hit, colour)}{edited}"
        )
    sys.stdout.flush()
    return OK
