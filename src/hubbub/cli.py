"""The ``hubbub`` command: one sub-command per module in ``hubbub.commands``.

A mistake on the command line is one line on stderr, what is wrong and where to
look, and status 2: never argparse's usage block or a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from hubbub import __version__
from hubbub.commands import MODULE_OF, command_modules

USAGE = 2


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line; its sub-parsers are Parsers too."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", DefaultsFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE, f"{self.prog}: {message} (see '{self.prog} --help')\n")


class DefaultsFormatter(argparse.HelpFormatter):
    """``--help`` shows each option's default, unless its help already says it."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if "default" in text or action.required or not action.option_strings:
            return text
        if action.default is None or action.default is False or action.default == argparse.SUPPRESS:
            return text
        return f"{text} (default: %(default)s)"


def build_parser(names: list[str] | None = None) -> tuple[Parser, dict[str, Parser]]:
    """The top-level parser, and each sub-command's parser by name (only ``names``'
    when given: the others' modules are not imported)."""
    parser = Parser(
        prog="hubbub", description="A real-time chat server where every room is a durable log."
    )
    parser.add_argument("--version", action="version", version=f"hubbub {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in command_modules(names):
        module.register(subparsers)
    return parser, dict(subparsers.choices)


def parse(argv: Sequence[str]) -> argparse.Namespace:
    asked = argv[0] if argv and argv[0] in MODULE_OF else None
    parser, commands = build_parser(None if asked is None else [asked])
    if asked is not None:
        # Options may come before, between or after the positionals
        # (`hubbub send general --name ci "deploy done"`), as people type them.
        args = commands[argv[0]].parse_intermixed_args(argv[1:])
        args.command = argv[0]
        return args
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse(sys.argv[1:] if argv is None else argv)
    sys.exit(args.run(args))
