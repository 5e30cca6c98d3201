"""``hubbub serve``: run the server until Ctrl-C or SIGTERM.

Every flag can also come from the environment as ``HUBBUB_<NAME>``
(``--max-body`` is ``HUBBUB_MAX_BODY``); a flag given on the command line wins.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable
from typing import Any

from hubbub.address_list import parse_cidr_list
from hubbub.auth import Authenticator
from hubbub.commands.arguments import positive_number, whole_number
from hubbub.commands.logs import configure_logging
from hubbub.commands.running import run_server
from hubbub.commands.serve_checks import ignored, refusal
from hubbub.commands.startup import check_access_log, check_db, check_static, explain
from hubbub.commands.workers import run_workers
from hubbub.errors import HubbubError
from hubbub.extras import require_redis
from hubbub.protocol.forwarded import parse_networks
from hubbub.settings import MIB, Settings

log = logging.getLogger("hubbub")
PROG = "hubbub serve"
USAGE = 2


_positive_int = whole_number(1)
_port = whole_number(0, 65535)


class _BadValue(argparse.ArgumentTypeError, ValueError):
    """A refused flag value whose message argparse shows as it is."""


def _redis_urls(text: str) -> tuple[str, ...]:
    """``URL[,URL...]``: one Redis per shard, in the same order on every node."""
    urls = tuple(url.strip() for url in text.split(",") if url.strip())
    if any(not url.startswith(("redis://", "rediss://", "unix://")) for url in urls):
        raise _BadValue(
            f"{text!r} is not redis://HOST:PORT/DB[,redis://...] (or rediss://, unix://)"
        )
    return urls


def _networks(text: str) -> tuple[str, ...]:
    """``CIDR[,CIDR...]``: the reverse proxies whose forwarding headers are believed."""
    try:
        return tuple(str(network) for network in parse_networks(text))
    except ValueError as exc:
        raise _BadValue(str(exc)) from None


def _cidr_list(text: str) -> tuple[str, ...]:
    """``CIDR[,CIDR]``, or ``none`` (--metrics-allow)."""
    try:
        return parse_cidr_list(text)
    except ValueError as exc:
        raise _BadValue(str(exc)) from None


def _names(text: str) -> tuple[str, ...]:
    """``NAME[,NAME...]``: host names, without scheme, path or port."""
    names = tuple(name.strip().lower() for name in text.split(",") if name.strip())
    if any(not all(c.isalnum() or c in ".-" for c in name) for name in names):
        raise _BadValue(f"{text!r} is not a comma list of host names (chat.example,...)")
    return names


def _workers(text: str) -> int:
    """A number of processes, or ``auto``: one per core this process may run on."""
    if text == "auto":
        return (
            len(os.sched_getaffinity(0))
            if hasattr(os, "sched_getaffinity")
            else (os.cpu_count() or 1)
        )
    try:
        return _positive_int(text)
    except ValueError:
        raise _BadValue(f"{text!r} is not a number of processes or auto") from None


def _yes(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("", "0", "false", "no", "off"):
        return False
    raise ValueError(text)


# name, type, default, help
OPTIONS: list[tuple[str, Callable[[str], Any], Any, str]] = [
    ("host", str, "127.0.0.1", "address to listen on"),
    ("port", _port, 8000, "port to listen on (0 picks a free one)"),
    ("store", str, "sqlite", "where rooms are kept: sqlite (durable), memory, or redis"),
    ("db", str, "hubbub.db", "SQLite database file"),
    ("retain", _positive_int, None, "messages kept per room"),
    ("heartbeat", positive_number, 15.0, "seconds between SSE comments and WebSocket pings"),
    ("max-body", _positive_int, 65536, "largest request body or WebSocket message, bytes"),
    ("max-text", _positive_int, 4000, "longest message text, characters"),
    ("outbox-limit", _positive_int, MIB, "bytes the server may hold for one subscriber"),
    (
        "sqlite-sync",
        str,
        "full",
        "full: a 201 survives power loss; normal: faster, survives a crash of the process",
    ),
    (
        "search-index",
        str,
        "on",
        "on: the SQLite store keeps a search index; off: none, searches answer 501",
    ),
    ("lobby", str, "lobby", "room the tutorial dialect speaks to"),
    ("static", str, None, "serve the files of this directory at /, before the chat page"),
    ("allow-origin", str, None, "origins whose pages may use the API: * or a comma list"),
    (
        "public-host",
        _names,
        (),
        "names this server is reached by (a comma list); without tokens, a request "
        "naming another (not an address or localhost) is refused, against DNS rebinding",
    ),
    ("rate-limit", positive_number, None, "publishes per second per client address"),
    ("rate-burst", _positive_int, None, "publishes a client may send at once"),
    ("access-log", str, None, "one JSON line per request or stream to this file, or - (stderr)"),
    ("auth-jwks", str, None, "JWKS document of keys that verify tokens (re-read on SIGHUP)"),
    ("redis", _redis_urls, (), "Redis URL[,URL...] carrying messages between nodes (sharded)"),
    ("workers", _workers, 1, "processes serving this port, or auto (one per core); needs --redis"),
    ("node-name", str, None, "what the operations page (/admin) calls this server"),
    ("max-connections", _positive_int, 10_000, "open connections in all (503 past it)"),
    (
        "max-connections-per-ip",
        _positive_int,
        None,
        "open connections per client address (behind a proxy: give --trusted-proxy, or raise it)",
    ),
    (
        "trusted-proxy",
        _networks,
        (),
        "CIDR[,CIDR...] of reverse proxies whose X-Forwarded-For/X-Real-IP name the client",
    ),
    ("idle-timeout", positive_number, 30.0, "seconds a connection may take to send a request head"),
    ("body-timeout", positive_number, 30.0, "seconds a request body may take to arrive (408)"),
    ("max-fragments", _positive_int, 128, "WebSocket frames one message may be cut into"),
    ("presence-grace", positive_number, 5.0, "seconds a user stays present after leaving (<= 10)"),
    ("presence-ttl", positive_number, 15.0, "with --redis: seconds a dead node's users stay"),
    ("max-subscriptions", _positive_int, 100, "rooms one GET /ws connection may subscribe to"),
    ("max-rooms", _positive_int, None, "rooms that may hold messages (403 too_many_rooms past it)"),
    (
        "metrics-allow",
        _cidr_list,
        parse_cidr_list("127.0.0.0/8,::1"),
        "client addresses that may read /metrics (admin tokens may too): CIDR[,CIDR] or none "
        "(default: loopback)",
    ),
]


# What a None default means, for --help.
UNSET = {
    "retain": "all",
    "static": "none",
    "allow-origin": "none",
    "public-host": "none",
    "redis": "none",
    "rate-limit": "off",
    "rate-burst": "the rate",
    "auth-jwks": "none",
    "access-log": "off",
    "auth-secret": "off",
    "auth-public-key": "off",
    "max-connections-per-ip": "a tenth of --max-connections",
    "trusted-proxy": "none: the peer is the client",
    "max-rooms": "off",
    "node-name": "host:pid",
}


# Flags that may be given more than once: name, help. The environment gives one value.
REPEATED: list[tuple[str, str]] = [
    ("auth-secret", "an HS256 secret that verifies tokens; prefer the env"),
    ("auth-public-key", "a PEM public key file (RS256/ES256) that verifies tokens"),
]


class _Repeatable(argparse.Action):
    """A flag that may be given more than once: its first use replaces the default (the
    environment's value), so that a flag on the command line wins; later ones add."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        given = f"_given_{self.dest}"
        before = getattr(namespace, self.dest) if getattr(namespace, given, False) else ()
        setattr(namespace, self.dest, (*before, values))
        setattr(namespace, given, True)


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
            except (ValueError, argparse.ArgumentTypeError):
                parser.error(f"{env}={raw!r} is not a valid value for --{option}")
        unset = value is None or (value == () and option in UNSET)
        shown = f" (default: {UNSET[option]})" if unset else ""
        kwargs: dict[str, Any] = {"default": value, "help": f"{text}; env {env}{shown}"}
        if option == "store":
            kwargs["choices"] = ["sqlite", "memory", "redis"]
        if option == "sqlite-sync":
            kwargs["choices"] = ["full", "normal"]
        if option == "search-index":
            kwargs["choices"] = ["on", "off"]
        parser.add_argument(f"--{option}", type=convert, **kwargs)
    for option, text in REPEATED:
        env = env_name(option)
        raw = os.environ.get(env)
        parser.add_argument(
            f"--{option}",
            action=_Repeatable,
            default=() if raw is None else (raw,),
            help=f"{text}; may be given more than once (rotation) [env {env}] (default: off)",
        )
    weak = env_name("redis-weak-durability")
    try:
        weak_default = _yes(os.environ.get(weak, ""))
    except ValueError:
        parser.error(f"{weak}={os.environ[weak]!r} is not a valid value: use 1 or 0")
    parser.add_argument(
        "--redis-weak-durability",
        action="store_true",
        default=weak_default,
        help="with --store redis, start even if Redis may lose acknowledged writes "
        f"(no appendfsync always); a 201 then means accepted, not on disk [env {weak}] "
        "(default: off)",
    )
    parser.add_argument(
        "--open-lobby",
        action="store_true",
        default=os.environ.get(env_name("open-lobby"), "") not in ("", "0"),
        help="with access control on, keep the tutorial dialect's lobby open to everyone "
        f"[env {env_name('open-lobby')}=1] (default: off)",
    )
    parser.set_defaults(run=run)


def settings_from(args: argparse.Namespace) -> Settings:
    return Settings(
        host=args.host,
        port=args.port,
        store=args.store,
        db=args.db,
        sqlite_synchronous=args.sqlite_sync,
        search_index=args.search_index == "on",
        retain=args.retain,
        heartbeat=args.heartbeat,
        max_body=args.max_body,
        max_text=args.max_text,
        outbox_limit=args.outbox_limit,
        lobby=args.lobby,
        allow_origin=args.allow_origin,
        public_host=args.public_host,
        static_dir=args.static,
        rate_limit=args.rate_limit,
        rate_burst=args.rate_burst,
        auth_secrets=args.auth_secret,
        auth_public_keys=args.auth_public_key,
        auth_jwks=args.auth_jwks,
        access_log=args.access_log,
        redis=args.redis,
        redis_weak_durability=args.redis_weak_durability,
        workers=args.workers,
        node_name=args.node_name,
        open_lobby=args.open_lobby,
        max_connections=args.max_connections,
        max_connections_per_ip=args.max_connections_per_ip,
        trusted_proxies=args.trusted_proxy,
        idle_timeout=args.idle_timeout,
        body_timeout=args.body_timeout,
        max_fragments=args.max_fragments,
        presence_grace=args.presence_grace,
        presence_ttl=args.presence_ttl,
        max_subscriptions=args.max_subscriptions,
        max_rooms=args.max_rooms,
        metrics_allow=args.metrics_allow,
    )


def _fail(reason: str) -> int:
    print(f"{PROG}: {reason}", file=sys.stderr)
    return USAGE


def run(args: argparse.Namespace) -> int:
    configure_logging()
    try:
        settings = settings_from(args)
        Authenticator.from_settings(settings)  # an unusable key: one line, before listening
        unusable = refusal(settings)
        if unusable is not None:
            raise ValueError(unusable)
    except ValueError as exc:
        return _fail(f"{exc} (see '{PROG} --help')")
    given = {"db": args.db != "hubbub.db", "sync": args.sqlite_sync != "full"}
    for warning in ignored(settings, db_given=given["db"], sync_given=given["sync"]):
        log.warning("hubbub: warning: %s", warning)
    try:
        check_static(settings)
        check_db(settings)
        check_access_log(settings)
        if settings.redis:
            require_redis()
        if settings.workers > 1:
            return run_workers(settings)
        return run_server(settings)
    except (OSError, HubbubError) as exc:
        return _fail(explain(exc, settings))
