"""``hubbub serve``: run the server until Ctrl-C or SIGTERM.

Every flag can also come from the environment as ``HUBBUB_<NAME>``
(``--max-body`` is ``HUBBUB_MAX_BODY``); a flag given on the command line wins.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

from hubbub.commands.arguments import whole_number
from hubbub.server import Server
from hubbub.settings import MIB, Settings

log = logging.getLogger("hubbub")


_positive_int = whole_number(1)
_port = whole_number(0, 65535)


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise ValueError(text)
    return value


# name, type, default, help
OPTIONS: list[tuple[str, Callable[[str], Any], Any, str]] = [
    ("host", str, "127.0.0.1", "address to listen on"),
    ("port", _port, 8000, "port to listen on (0 picks a free one)"),
    ("store", str, "sqlite", "where rooms are kept: sqlite (durable) or memory"),
    ("db", str, "hubbub.db", "SQLite database file"),
    ("retain", _positive_int, None, "messages kept per room (default: all)"),
    ("heartbeat", _positive_float, 15.0, "seconds between SSE comments and WebSocket pings"),
    ("max-body", _positive_int, 65536, "largest request body or WebSocket message, bytes"),
    ("max-text", _positive_int, 4000, "longest message text, characters"),
    ("outbox-limit", _positive_int, MIB, "bytes the server may hold for one subscriber"),
    ("lobby", str, "lobby", "room the tutorial dialect speaks to"),
    ("static", str, None, "serve the files of this directory at /, before the chat page"),
    ("allow-origin", str, None, "origins whose pages may use the API: * or a comma list"),
    ("rate-limit", _positive_float, None, "publishes per second per client address (default: off)"),
    ("rate-burst", _positive_int, None, "publishes a client may send at once (default: the rate)"),
    ("auth-secret", str, None, "HS256 secret that verifies tokens; prefer the env (default: off)"),
    ("auth-public-key", str, None, "PEM public key file (RS256/ES256) that verifies tokens"),
    ("presence-grace", _positive_float, 5.0, "seconds a user stays present after leaving (<= 10)"),
    ("max-subscriptions", _positive_int, 100, "rooms one GET /ws connection may subscribe to"),
]


def env_name(option: str) -> str:
    return "HUBBUB_" + option.upper().replace("-", "_")


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "serve",
        help="run the server",
        description="Run the hubbub server. Each flag may also be set as HUBBUB_<NAME>.",
    )
    for option, convert, default, text in OPTIONS:
        env = env_name(option)
        raw = os.environ.get(env)
        value = default
        if raw is not None:
            try:
                value = convert(raw)
            except ValueError:
                parser.error(f"{env}={raw!r} is not a valid value for --{option}")
        kwargs: dict[str, Any] = {"default": value, "help": f"{text} [env {env}]"}
        if option == "store":
            kwargs["choices"] = ["sqlite", "memory"]
        parser.add_argument(f"--{option}", type=convert, **kwargs)
    parser.set_defaults(run=run)


def settings_from(args: argparse.Namespace) -> Settings:
    return Settings(
        host=args.host,
        port=args.port,
        store=args.store,
        db=args.db,
        retain=args.retain,
        heartbeat=args.heartbeat,
        max_body=args.max_body,
        max_text=args.max_text,
        outbox_limit=args.outbox_limit,
        lobby=args.lobby,
        allow_origin=args.allow_origin,
        static_dir=args.static,
        rate_limit=args.rate_limit,
        rate_burst=args.rate_burst,
        auth_secret=args.auth_secret,
        auth_public_key=args.auth_public_key,
        presence_grace=args.presence_grace,
        max_subscriptions=args.max_subscriptions,
    )


def _event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency where it installs
        return None
    return uvloop.new_event_loop


async def serve(settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    server = Server(settings)
    await server.start()
    log.info("hubbub listening on %s (store: %s)", server.url, settings.describe_store())
    try:
        await stop.wait()
        log.info("hubbub stopping: answering waiting polls, closing streams")
    finally:
        await server.stop()
    log.info("hubbub stopped")


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        settings = settings_from(args)
    except ValueError as exc:
        log.error("hubbub: %s", exc)
        return 2
    try:
        with asyncio.Runner(loop_factory=_event_loop_factory()) as runner:
            runner.run(serve(settings))
    except OSError as exc:
        log.error("hubbub: cannot start: %s", exc)
        return 1
    return 0
