"""Serving in this process until a signal: ``hubbub serve`` (one process) and each of
``--workers N`` run it (``workers.py``), so neither command module imports the other.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import signal
import sys
from collections.abc import Callable

from hubbub.commands.startup import explain
from hubbub.errors import HubbubError
from hubbub.runtime import CollectorPolicy, tune_gc, tune_threads
from hubbub.server import Server
from hubbub.settings import Settings

log = logging.getLogger("hubbub")
PROG = "hubbub serve"
USAGE = 2


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or a name) reaches only this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name, or "" for every address


def _event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency where it installs
        return None
    return uvloop.new_event_loop


def announce(server: Server) -> None:
    """The start-up log line (tests and operators read where it listens from it)."""
    durable = getattr(server.node.store, "durable", True)
    described = server.settings.describe_store(durable=durable)
    log.info("hubbub listening on %s (store: %s)", server.url, described)


async def serve(settings: Settings, ready: Callable[[Server], None] = announce) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    # What the imports built is frozen out of the collector's way before the server
    # listens: the full pass takes about 25 ms, a stall of the loop (counted by its probe,
    # which the server's start starts) if made once clients may connect. The collector
    # policy freezes what the start builds at its first pass, and what connections build
    # after. HUBBUB_GC_TUNE=0 keeps CPython's defaults, for measuring what the tuning is
    # worth (bench/).
    tune_threads()
    tuned = os.environ.get("HUBBUB_GC_TUNE", "1") != "0"
    if tuned:
        tune_gc()
    server = Server(settings)
    try:
        await server.start()
    except BaseException:
        await server.stop()  # the store may be open although the port is not
        raise
    collector = None
    if tuned:
        collector = CollectorPolicy(loop)
        collector.start()
    loop.add_signal_handler(signal.SIGHUP, reload_keys, server)
    ready(server)
    if not server.node.access.enabled and not is_loopback(settings.host):
        log.warning(
            "hubbub: access control is off on %s: anyone who reaches it may read and post "
            "as anyone (give --auth-secret or --auth-public-key)",
            settings.host,
        )
    try:
        await stop.wait()
        log.info("hubbub stopping: answering waiting polls, closing streams")
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, _stop_now)
    finally:
        if collector is not None:
            collector.stop()
        await server.stop()
    log.info("hubbub stopped")


def reload_keys(server: Server) -> None:
    """SIGHUP: read the key files again (``keyring.py``); a file unusable now leaves the
    keys in use as they were. Open streams keep going either way."""
    keyring = server.node.access.authenticator.keyring
    if keyring is None:
        log.info("hubbub: SIGHUP: access control is off, no keys to read")
        return
    try:
        keyring.reload()
    except ValueError as exc:
        log.error("hubbub: SIGHUP: keys not reloaded, those in use stay: %s", exc)
        return
    log.info("hubbub: SIGHUP: keys reloaded: %s", keyring.describe())


def _stop_now() -> None:
    """A second SIGTERM or Ctrl-C while stopping: exit at once (what is acknowledged is
    committed; streams and waiting polls are cut)."""
    log.error("hubbub: stopping now (a second signal while stopping)")
    os._exit(1)


def _fail(reason: str) -> int:
    print(f"{PROG}: {reason}", file=sys.stderr)
    return USAGE


def run_server(settings: Settings, ready: Callable[[Server], None] = announce) -> int:
    """Serve in this process until a signal; the exit status."""
    try:
        with asyncio.Runner(loop_factory=_event_loop_factory()) as runner:
            runner.run(serve(settings, ready))
    except (OSError, HubbubError) as exc:
        return _fail(explain(exc, settings))
    return 0
