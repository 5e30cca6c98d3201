"""The benchmark's plan: the same publisher for every server, depth curves, alternation.

Pure: no server runs.
"""

from __future__ import annotations

from bench.orchestrate import RunSpec
from bench.rounds import SeriesOutcomes, alternate
from bench.scenarios import (
    CROWDS,
    DEPTHS,
    FULL,
    PUBLISH_SERVERS,
    QUICK,
    SCENARIOS,
    depth_curve,
    plan,
)

ALL = list(PUBLISH_SERVERS)


def test_every_server_gets_the_same_depth_in_a_scenario() -> None:
    """Outside the depth curve, one workload has one publisher depth for every server."""
    for mode in (QUICK, FULL):
        depths: dict[tuple[object, ...], set[tuple[int, int]]] = {}
        for spec in plan(mode, ALL, list(SCENARIOS)):
            if spec.scenario == "depth" or spec.mode == "idle":
                continue
            workload = (spec.scenario, spec.transport, spec.subscribers, spec.rooms, spec.mode)
            shape = (spec.pipeline, spec.connections)
            depths.setdefault((*workload, spec.rate, spec.via), set()).add(shape)
        assert depths and all(len(shapes) == 1 for shapes in depths.values())
        # And the same depth whichever way the server is published to (fan-out, rooms).
        for (scenario, *_), shapes in depths.items():
            if scenario in ("fanout", "rooms"):
                assert shapes in ({(8, 1)}, {(64, 1)})


def test_fanout_publishes_over_http_at_depth_8_for_every_server_that_takes_it() -> None:
    """Nchan and hubbub are published to the same way in the fan-out runs."""
    runs = [s for s in plan(QUICK, ALL, ["fanout"]) if s.mode != "idle"]
    by_server = {(s.server, s.via, s.pipeline) for s in runs}
    assert ("hubbub", "http", 8) in by_server and ("nchan", "http", 8) in by_server
    # websockets takes no HTTP publish: its own WS publisher, at the same depth.
    assert {(v, d) for s, v, d in by_server if s == "py-websockets"} == {("ws", 8)}


def test_each_server_has_its_own_depth_curve() -> None:
    """The depth scenario runs 1, 8 and 64 in flight for each server and publisher kind."""
    runs = depth_curve(FULL, ["hubbub", "nchan", "py-websockets"])
    curves: dict[tuple[str, str], list[int]] = {}
    crowds: dict[str, list[int]] = {}
    for spec in runs:
        assert spec.scenario == "depth" and spec.mode == "flood" and spec.subscribers == 1000
        if spec.connections == 1:
            curves.setdefault((spec.server, spec.via), []).append(spec.pipeline)
        else:  # a crowd of HTTP publishers, one in flight each
            assert (spec.via, spec.pipeline) == ("http", 1)
            crowds.setdefault(spec.server, []).append(spec.connections)
    assert all(depths == list(DEPTHS) for depths in curves.values())
    assert crowds == {"hubbub": list(CROWDS), "nchan": list(CROWDS)}
    # Both publishers where the server takes both; Nchan only HTTP, websockets only WS.
    assert set(curves) == {
        ("hubbub", "http"),
        ("hubbub", "ws"),
        ("nchan", "http"),
        ("py-websockets", "ws"),
    }
    quick = {(s.server, s.via) for s in depth_curve(QUICK, ["hubbub", "py-websockets"])}
    assert quick == {("hubbub", "http"), ("hubbub", "ws"), ("py-websockets", "ws")}


def test_depth_is_part_of_a_runs_key() -> None:
    """Runs at different depths never share a key, so never a median or a ratio."""
    keys = {s.key() for s in depth_curve(QUICK, ["hubbub"])}
    assert keys == {
        f"depth/hubbub/ws/n1000/r1/flood/{v}/d{d}" for d in DEPTHS for v in ("http", "ws")
    } | {f"depth/hubbub/ws/n1000/r1/flood/http/{c}x1" for c in CROWDS}


def test_acknowledged_publishes_include_wrk_for_http_servers_only() -> None:
    """wrk posts to every server that takes HTTP publishes, with 64 connections x 1."""
    runs = plan(QUICK, ALL, ["publish"])
    wrk = {s.server for s in runs if s.via == "wrk"}
    assert "hubbub-sqlite" in wrk and "nchan" in wrk and "py-websockets" not in wrk
    assert {(s.connections, s.pipeline) for s in runs if s.via == "wrk"} == {(64, 1)}


def test_rounds_alternate_servers_and_reverse_every_other_round() -> None:
    """Three rounds of A B C run as A B C, C B A, A B C before the next group starts."""
    specs = [
        RunSpec("fanout", server, "ws", subscribers=1000, mode="flood", via="http", pipeline=8)
        for server in ("hubbub", "nchan", "uws")
    ]
    order = [(r, s.server) for r, s in alternate(specs, 3)]
    assert [s for _, s in order] == [
        "hubbub", "nchan", "uws", "uws", "nchan", "hubbub", "hubbub", "nchan", "uws",
    ]  # fmt: skip
    assert [r for r, _ in order] == [0, 0, 0, 1, 1, 1, 2, 2, 2]


def test_groups_keep_the_plans_order_so_rates_rise() -> None:
    """Every rate of a series runs all its rounds before the next rate starts."""
    runs = [s for s in plan(QUICK, ["hubbub", "nchan"], ["fanout"]) if s.transport == "ws"]
    ordered = [s for _, s in alternate(runs, 3)]
    rates = [s.rate for s in ordered if s.subscribers == 1000 and s.mode == "paced"]
    assert rates == sorted(rates) and len(rates) == 3 * 2 * 2  # 100 and 2000, 2 servers


def test_a_rate_is_skipped_once_a_lower_one_failed_in_most_runs() -> None:
    """Two failures out of three at 100 msg/s skip 2,000 msg/s; one failure does not."""
    low = RunSpec("fanout", "nchan", "ws", subscribers=1000, rate=100, via="http", pipeline=8)
    high = RunSpec("fanout", "nchan", "ws", subscribers=1000, rate=2000, via="http", pipeline=8)
    other = RunSpec("fanout", "hubbub", "ws", subscribers=1000, rate=2000, via="http", pipeline=8)
    outcomes = SeriesOutcomes()
    for ok in (True, False):
        outcomes.record(low, ok)
    assert outcomes.skip_reason(high) == ""
    outcomes.record(low, False)
    assert "100 msg/s was not sustained in 2/3 runs" in outcomes.skip_reason(high)
    assert outcomes.skip_reason(low) == ""  # the same rate still runs all its rounds
    assert outcomes.skip_reason(other) == ""  # another server's series is its own
