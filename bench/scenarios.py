"""The benchmark's matrix: which runs, against which servers, in quick and full mode.

Every scenario of the issue, per transport where the server speaks it. Rates beyond what
a server just failed to sustain are skipped (and say so), so a slow peer costs seconds,
not minutes, and never builds an unbounded backlog.

Every server gets the same publisher in a scenario: the same connection kind where it
takes it (HTTP for the fan-out runs, which every peer but websockets accepts) and the
same depth (publishes in flight per connection). A depth of its own would put a ratio
in the publisher: Nchan answers a publish after fanning it out, so 64 in flight queue
up in front of it, while hubbub batches them. The ``depth`` scenario shows each
server's curve at 1, 8, 16 and 64 in flight as runs of their own.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace

from bench.dialects import Transport
from bench.orchestrate import RunSpec
from bench.servers import SERVERS, ServerSpec

CORE_SCENARIOS = ("fanout", "depth", "rooms", "publish", "idle")
SCENARIOS = (*CORE_SCENARIOS, "scale", "levers")  # the last two: hubbub's variants
FANOUT_DEPTH = 8  # publishes in flight on the fan-out runs' publisher, for every server
ROOMS_DEPTH = 64  # one HTTP connection publishing round-robin to 1,000 rooms
DEPTHS = (1, 8, 16, 64)  # the depth curve
# The same publishes in flight as a crowd: that many HTTP connections, one in flight each,
# as many users sending at once make them (the depth curve pipelines on one connection).
CROWDS = (16, 64)
# hubbub runs with its memory store where peers hold messages in memory too; the durable
# (SQLite) store is measured where durability is the point: acknowledged publishes.
FANOUT_SERVERS = ("hubbub", "nchan", "uws", "node-ws", "socketio", "py-websockets", "py-socketio")
PUBLISH_SERVERS = ("hubbub-sqlite", "hubbub", *FANOUT_SERVERS[1:])
# Issue 10: one process against two (--workers 2) through a Redis the bench starts, with
# the SQLite store (one file shared) and with the Redis store (one node against two).
SCALE_SERVERS = ("hubbub-sqlite", "hubbub-w2", "hubbub-redis", "hubbub-redis-w2")
# Issue 13's levers, each against the plain server: SQLite synchronous=NORMAL against
# FULL, the GC left untuned, other Python versions (where their venv exists). (Until issue
# 18 also the lean HTTP path turned off, every request through aiohttp's server: gone
# with that server.)
SYNC_SERVERS = ("hubbub-sqlite", "hubbub-sqlite-normal")
LEVER_SERVERS = ("hubbub", "hubbub-gc-off", "hubbub-py312", "hubbub-py313")
VARIANT_SERVERS = tuple(dict.fromkeys((*SCALE_SERVERS, *SYNC_SERVERS, *LEVER_SERVERS)))


@dataclass(frozen=True)
class Mode:
    name: str
    duration_s: float  # publishing time of a paced or flooded run
    publish_s: float  # closed-loop publish throughput runs
    ws_rates: tuple[float, ...]  # WebSocket, 1,000 subscribers; 0 = as fast as sustained
    sse_rates: tuple[float, ...]
    poll_rates: tuple[float, ...]
    big_rates: tuple[float, ...]  # WebSocket, 10,000 subscribers
    big_transports: tuple[Transport, ...]
    rooms_rates: tuple[float, ...]
    rooms_transports: tuple[Transport, ...]
    idle_transports: tuple[Transport, ...]
    idle_peers: bool  # idle SSE and long poll for Nchan too
    hold_s: float
    lag_abort_s: float
    profiles: int  # at most this many profiled repeats
    # Publishers of the depth curve, where the server takes them: HTTP compares with
    # Nchan, WS with the WebSocket peers (and is how hubbub's clients publish).
    depth_vias: tuple[str, ...] = ("http", "ws")
    repeats: int = 3  # runs per figure (the median is published)


QUICK = Mode(
    "quick",
    1.5,
    1.5,
    (100, 2000, 0),
    (1000, 0),
    # 25 msg/s: each poll answer carries one message, so CPU per delivery is per poll.
    (25, 100),
    (10,),
    (Transport.WS,),
    (0,),
    (Transport.WS,),
    (Transport.WS, Transport.SSE, Transport.LONGPOLL),
    False,
    1.0,
    3.0,
    6,
    ("http", "ws"),
)
FULL = Mode(
    "full",
    5.0,
    5.0,
    (100, 1000, 2000, 0),
    (100, 1000, 2000, 0),
    (25, 100, 1000),
    (10, 100, 0),
    (Transport.WS, Transport.SSE, Transport.LONGPOLL),
    (1000, 0),
    (Transport.WS, Transport.SSE),
    (Transport.WS, Transport.SSE, Transport.LONGPOLL),
    True,
    5.0,
    5.0,
    6,
    ("http", "ws"),
)


def _via(server: ServerSpec) -> str:
    """The fan-out publisher: HTTP for every server that takes it (Nchan takes nothing
    else), so every server is published to the same way; WebSocket for the one that
    takes only that (websockets), whose figures are then compared in the depth curve."""
    return "http" if server.http_publish else "ws"


def _speaks(server: ServerSpec, via: str) -> bool:
    return server.http_publish if via in ("http", "wrk") else server.ws_publish


def _rate_runs(base: RunSpec, rates: tuple[float, ...], window: int) -> Iterator[RunSpec]:
    for rate in rates:
        if rate:
            yield replace(base, mode="paced", rate=rate)
        else:
            yield replace(base, mode="flood", window=window)


def _fanout_bases(
    mode: Mode, pick: list[str], transports: Iterable[Transport], subscribers: int
) -> Iterator[tuple[Transport, RunSpec]]:
    """One fan-out run per transport and server that speaks it, before rates are set."""
    for transport in transports:
        for name in pick:
            spec = SERVERS[name]
            if transport in spec.transports:
                yield (
                    transport,
                    RunSpec(
                        "fanout",
                        name,
                        transport.value,
                        subscribers=subscribers,
                        duration_s=mode.duration_s,
                        via=_via(spec),
                        pipeline=FANOUT_DEPTH,
                        lag_abort_s=mode.lag_abort_s,
                    ),
                )


def plan(mode: Mode, servers: list[str], scenarios: list[str]) -> list[RunSpec]:
    """All runs of a suite, in the order they run."""
    runs: list[RunSpec] = []
    pick = [s for s in FANOUT_SERVERS if s in servers]
    idle_pick = pick
    d = mode.duration_s
    if "fanout" in scenarios:
        rates_of = {Transport.WS: mode.ws_rates, Transport.SSE: mode.sse_rates}
        every = (Transport.WS, Transport.SSE, Transport.LONGPOLL, Transport.SHORTPOLL)
        for transport, base in _fanout_bases(mode, pick, every, 1000):
            runs.extend(_rate_runs(base, rates_of.get(transport, mode.poll_rates), 200))
        for transport, base in _fanout_bases(mode, pick, mode.big_transports, 10_000):
            rates = mode.big_rates if transport is Transport.WS else mode.big_rates[:1]
            runs.extend(_rate_runs(base, rates, 50))
    if "depth" in scenarios:
        runs.extend(depth_curve(mode, pick))
    if "rooms" in scenarios:
        for transport in mode.rooms_transports:
            for name in pick:
                spec = SERVERS[name]
                if transport not in spec.transports:
                    continue
                base = RunSpec(
                    "rooms",
                    name,
                    transport.value,
                    subscribers=10,
                    rooms=1000,
                    duration_s=d,
                    via=_via(spec),
                    pipeline=ROOMS_DEPTH,
                    probes=8,
                    lag_abort_s=mode.lag_abort_s,
                )
                runs.extend(_rate_runs(base, mode.rooms_rates, 3))
    if "publish" in scenarios:
        runs.extend(publish_runs(mode, [s for s in PUBLISH_SERVERS if s in servers]))
    if "idle" in scenarios:
        for transport in mode.idle_transports:
            for name in idle_pick:
                if transport not in SERVERS[name].transports:
                    continue
                hubbub = name == "hubbub"
                if transport is not Transport.WS and not hubbub and not mode.idle_peers:
                    continue
                runs.append(
                    RunSpec(
                        "idle",
                        name,
                        transport.value,
                        subscribers=10_000,
                        mode="idle",
                        probes=0,
                        hold_s=mode.hold_s,
                    )
                )
    if "scale" in scenarios:
        runs.extend(scale_runs(mode, [s for s in SCALE_SERVERS if s in servers]))
    if "levers" in scenarios:
        runs.extend(lever_runs(mode, servers))
    return list({spec.key(): spec for spec in runs}.values())  # a run two scenarios share


def scale_runs(mode: Mode, names: list[str]) -> list[RunSpec]:
    """Issue 10: WebSocket fan-out to 1,000 and 10,000 (flooded) and acknowledged publishes."""
    runs: list[RunSpec] = []
    for subscribers, window in ((1000, 200), (10_000, 50)):
        for name in names:
            base = RunSpec(
                "fanout",
                name,
                Transport.WS.value,
                subscribers=subscribers,
                duration_s=mode.duration_s,
                via="http",
                pipeline=FANOUT_DEPTH,
                lag_abort_s=mode.lag_abort_s,
            )
            runs.extend(_rate_runs(base, (0,), window))
    return runs + publish_runs(mode, names)


def lever_runs(mode: Mode, servers: list[str]) -> list[RunSpec]:
    """Issue 13: long poll (1,000 pollers, 100 msg/s) and WebSocket fan-out paced at 1,000
    msg/s by a WebSocket publisher, per lever; durable publishes under each sync mode."""
    runs: list[RunSpec] = []
    levers = [s for s in LEVER_SERVERS if s in servers]
    for transport, rate, via in (("longpoll", 100, "http"), ("ws", 1000, "ws")):
        for name in levers:
            runs.append(
                RunSpec(
                    "fanout",
                    name,
                    transport,
                    subscribers=1000,
                    rate=rate,
                    duration_s=mode.duration_s,
                    via=via,
                    pipeline=FANOUT_DEPTH,
                    lag_abort_s=mode.lag_abort_s,
                )
            )
    return runs + publish_runs(mode, [s for s in SYNC_SERVERS if s in servers])


def depth_curve(mode: Mode, pick: list[str]) -> list[RunSpec]:
    """Flooded WebSocket fan-out to 1,000 subscribers at each depth, per publisher kind,
    and from a crowd of HTTP publishers (``CROWDS`` connections, one in flight each).

    Each server publishes the ways of ``mode.depth_vias`` it takes (at least its one way).
    """
    runs: list[RunSpec] = []

    def flood(name: str, via: str, pipeline: int, connections: int = 1) -> RunSpec:
        return RunSpec(
            "depth",
            name,
            Transport.WS.value,
            subscribers=1000,
            mode="flood",
            duration_s=mode.duration_s,
            via=via,
            connections=connections,
            pipeline=pipeline,
            window=200,
            lag_abort_s=mode.lag_abort_s,
        )

    for name in pick:
        spec = SERVERS[name]
        if Transport.WS not in spec.transports:
            continue
        vias = [v for v in mode.depth_vias if _speaks(spec, v)] or [_via(spec)]
        runs.extend(flood(name, via, depth) for via in vias for depth in DEPTHS)
        if _speaks(spec, "http"):
            runs.extend(flood(name, "http", 1, crowd) for crowd in CROWDS)
    return runs


# Acknowledged publishes, the same for every server: (via, connections, in flight each).
PUBLISH_SHAPES = (("http", 64, 1), ("wrk", 64, 1), ("ws", 8, 8))


def publish_runs(mode: Mode, names: list[str]) -> list[RunSpec]:
    """Closed-loop publish throughput over 8 rooms, by our client and by wrk."""
    runs = []
    for name in names:
        for via, connections, depth in PUBLISH_SHAPES:
            if _speaks(SERVERS[name], via):
                runs.append(
                    RunSpec(
                        "publish",
                        name,
                        "ws",
                        mode="closed",
                        via=via,
                        rooms=8,
                        connections=connections,
                        pipeline=depth,
                        duration_s=mode.publish_s,
                    )
                )
    return runs


def not_sustained(result: dict[str, object]) -> bool:
    """A paced run that fell clearly behind: higher rates of the series are skipped."""
    spec = result.get("spec")
    if not isinstance(spec, dict) or spec.get("mode") != "paced":
        return False
    if "failure" in result:
        return True
    publish = result.get("publish")
    aborted = isinstance(publish, dict) and bool(publish.get("aborted"))
    rate = float(spec.get("rate", 0)) * int(spec.get("subscribers", 0))
    delivered = result.get("deliveries_per_s", 0.0)
    return aborted or (isinstance(delivered, float) and delivered < 0.5 * rate)


def series(spec: RunSpec) -> str:
    """Runs of one series differ only by rate (the unit of skipping)."""
    return (
        f"{spec.scenario}/{spec.server}/{spec.transport}/{spec.subscribers}/{spec.rooms}/"
        f"{spec.via}/{spec.connections}x{spec.pipeline}"
    )
