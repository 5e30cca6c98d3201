"""The ``hubbub`` command: one sub-command per module in ``hubbub.commands``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from hubbub import __version__
from hubbub.commands import COMMANDS


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hubbub", description="A real-time chat server where every room is a durable log."
    )
    parser.add_argument("--version", action="version", version=f"hubbub {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    code = args.run(args)
    sys.exit(code)
