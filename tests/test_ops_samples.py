"""The operations page's data, without sockets: histograms, samples, merging, the rings."""

from __future__ import annotations

import pytest

from hubbub.admin_access import admin_allowed, is_loopback_address
from hubbub.errors import Unauthorized
from hubbub.ops import histogram
from hubbub.ops.cluster import Cluster
from hubbub.ops.sample import (
    Counters,
    Limit,
    RoomRow,
    Sample,
    busiest_rooms,
    merge,
    sample_from_wire,
    take_sample,
    view,
)
from hubbub.principal import Principal
from hubbub.protocol.tokens import principal_from_claims


def sample(node: str = "a", t: int = 100, **fields: object) -> Sample:
    values: dict[str, object] = {
        "span": 1.0,
        "connections": {"ws": 2, "tcp": 3},
        "messages": 10,
        "deliveries": 20,
        "latency": {histogram.bucket_of(0.001): 10},
        "commits": 2,
        "committed": 10,
        "commit_seconds": 0.004,
        "slow_consumers": 0,
        "refused": {},
        "stall": 0.01,
        "gc": 0.0,
    }
    values.update(fields)
    return Sample(node=node, t=t, **values)  # type: ignore[arg-type]


def test_bucket_bounds_hold_their_values() -> None:
    """Every latency lands in a bucket whose upper bound is above it and within 25%."""
    for micros in [0, 1, 7, 8, 9, 10, 15, 16, 100, 999, 1000, 12345, 10**6, 10**8]:
        seconds = micros / 1_000_000
        index = histogram.bucket_of(seconds)
        upper = histogram.bucket_upper(index)
        assert upper > seconds
        assert upper <= max(seconds * 1.25, seconds + 1e-6) + 1e-12


def test_bucket_of_is_monotonic_and_bounded() -> None:
    """Longer latencies never land in an earlier bucket; huge ones in the last."""
    indexes = [histogram.bucket_of(m / 1_000_000) for m in range(0, 5000, 7)]
    assert indexes == sorted(indexes)
    assert histogram.bucket_of(10**6) == histogram.BUCKETS - 1
    assert histogram.bucket_of(-1.0) == 0


def test_percentiles_from_counts() -> None:
    """p50 and p99 come from the bucket holding that rank; nothing counted is None."""
    counts = histogram.new_counts()
    histogram.record(counts, [0.001] * 98 + [0.5, 0.5])
    diff = histogram.difference(counts, histogram.new_counts())
    p50 = histogram.percentile(diff, 0.5)
    p99 = histogram.percentile(diff, 0.99)
    assert p50 is not None and 0.001 < p50 <= 0.00125
    assert p99 is not None and 0.5 < p99 <= 0.625
    assert histogram.percentile({}, 0.5) is None


def test_a_batch_counts_every_message_in_groups() -> None:
    """A small batch is counted message by message; a large one in groups of consecutive
    publishes, every message counted, at latencies the batch really had."""
    small = histogram.new_counts()
    histogram.record_batch(small, 1.0, [0.999, 0.99])
    assert small[histogram.bucket_of(0.001)] == 1 and small[histogram.bucket_of(0.01)] == 1
    large = histogram.new_counts()
    accepted = [0.9 + i * 0.0001 for i in range(1000)]  # waited 100 ms down to 0.1 ms
    histogram.record_batch(large, 1.0, accepted)
    assert sum(large) == 1000
    counted = {index: n for index, n in enumerate(large) if n}
    assert 2 <= len(counted) <= histogram.GROUPS  # neighbouring groups may share a bucket
    p50 = histogram.percentile(counted, 0.5)
    assert p50 is not None and 0.04 < p50 < 0.07


def test_take_sample_is_the_difference_of_two_readings() -> None:
    """Counters read a second apart become that second's counts; unchanged codes vanish."""
    before_latency = histogram.new_counts()
    after_latency = list(before_latency)
    after_latency[histogram.bucket_of(0.002)] += 3
    before = Counters(published=5, delivered=7, refused={"forbidden": 2, "rate_limited": 1})
    after = Counters(
        published=9,
        delivered=19,
        publish_count=4,
        commits=2,
        commit_seconds=0.01,
        slow_consumers_dropped=1,
        refused={"forbidden": 2, "rate_limited": 4, "too_large": 1},
        latency=after_latency,
        gc_seconds=0.25,
    )
    got = take_sample("n", 7, 1.0, before, after, connections={"sse": 1}, stall=0.2)
    assert (got.messages, got.deliveries, got.commits, got.committed) == (4, 12, 2, 4)
    assert got.refused == {"rate_limited": 3, "too_large": 1}
    assert got.latency == {histogram.bucket_of(0.002): 3}
    assert got.slow_consumers == 1 and got.gc == pytest.approx(0.25)
    point = view(got)
    assert point["batch"] == 2.0 and point["commit_ms"] == pytest.approx(5.0)
    assert point["connections"]["sse"] == 1 and point["connections"]["ws"] == 0
    assert point["stall_ms"] == pytest.approx(200.0)


def test_merge_adds_counts_and_keeps_the_longest_stall() -> None:
    """The whole server: counts and histograms add, the stall is the longest, rooms merge."""
    a = sample("a", stall=0.3, rooms=(RoomRow("general", 5.0, 3, 4),), refused={"x": 1})
    b = sample(
        "b",
        stall=0.02,
        latency={histogram.bucket_of(0.4): 10},
        rooms=(RoomRow("general", 2.0, 1, 6), RoomRow("quiet", 0.0, 9, 1)),
        refused={"x": 2, "y": 1},
    )
    whole = merge("all", 100, [a, b])
    assert whole.messages == 20 and whole.deliveries == 40
    assert whole.connections == {"ws": 4, "tcp": 6}
    assert whole.refused == {"x": 3, "y": 1}
    assert whole.stall == pytest.approx(0.3)
    assert sum(whole.latency.values()) == 20
    assert whole.rooms == (RoomRow("general", 7.0, 4, 6), RoomRow("quiet", 0.0, 9, 1))
    point = view(whole)
    assert point["p50_ms"] is not None and point["p50_ms"] <= 1.25
    assert point["p99_ms"] is not None and point["p99_ms"] > 400


def test_busiest_rooms_by_messages_then_subscribers() -> None:
    """The table keeps the busiest few: rooms with messages first, then crowded ones."""
    messages = {"a": 3, "b": 10, "quiet": 0}
    subscribers = {"c": 50, "a": 1, "idle": 0}
    assert busiest_rooms(messages, subscribers, 1.0, 2) == (
        RoomRow("b", 10.0, 0, 0),
        RoomRow("a", 3.0, 1, 0),
    )
    everything = busiest_rooms(messages, subscribers, 2.0)
    assert [row.name for row in everything] == ["b", "a", "c"]  # nothing for idle rooms
    assert everything[0].messages == 5.0  # per second over the span


def test_sample_survives_the_wire_and_bad_ones_are_refused() -> None:
    """What a node publishes is read back the same; anything else is a ValueError."""
    original = sample(
        rooms=(RoomRow("r", 1.5, 2, 3),),
        limits=(Limit("files", 10, 1024), Limit("rooms", 3, None)),
    )
    assert sample_from_wire(original.to_wire()) == original
    with pytest.raises(ValueError, match="not a sample"):
        sample_from_wire({"node": "x"})
    with pytest.raises(ValueError, match="JSON object"):
        sample_from_wire([1, 2])
    with pytest.raises(ValueError, match="refused must map"):
        sample_from_wire({**original.to_wire(), "refused": {"x": "many"}})


def test_limit_fraction() -> None:
    """How close to a limit: None when there is no limit."""
    assert Limit("files", 512, 1024).fraction == 0.5
    assert Limit("rooms", 5, None).fraction is None


def test_rings_keep_fifteen_minutes_whatever_the_uptime() -> None:
    """Each node's ring and the whole server's hold at most the history, oldest dropped."""
    cluster = Cluster("a", history=900)
    for t in range(1, 2001):
        cluster.add(sample("a", t))
        cluster.tick(t)
    assert len(cluster.rings["a"]) == 900 and len(cluster.whole) == 900
    assert cluster.rings["a"][0].t == 1101 and cluster.whole[-1].t == 1999


def test_cluster_merges_each_second_once_and_names_silent_ones() -> None:
    """The whole server's second t - 1 holds every node's sample of that second, once;
    a node silent for more than a few seconds is shown so; one silent for the whole
    history is forgotten; repeats are dropped."""
    cluster = Cluster("a", history=60)
    cluster.add(sample("a", 99))
    cluster.add(sample("a", 100, messages=1))
    cluster.add(sample("b", 99))
    cluster.add(sample("b", 99, messages=999))  # a repeat of second 99
    cluster.add(sample("c", 90))
    whole = cluster.tick(100)
    assert (whole.t, whole.messages) == (99, 20)  # a and b at 99; a's 100 is next
    update = cluster.update(whole)
    states = {node["node"]: (node["live"], node["local"]) for node in update["nodes"]}
    assert states == {"a": (True, True), "b": (True, False), "c": (False, False)}
    points = {node["node"]: node["point"]["t"] for node in update["nodes"]}
    assert points == {"a": 99, "b": 99, "c": 90}
    # b's second 100 comes late, after a's tick of 101 merged 100 without it:
    assert cluster.tick(101).messages == 1
    cluster.add(sample("b", 100))
    cluster.add(sample("b", 101))
    cluster.add(sample("a", 101))
    assert cluster.tick(102).messages == 20  # counted once each, b's 100 never twice
    cluster.tick(151)
    assert "c" not in cluster.rings and "a" in cluster.rings
    history = cluster.history_event()
    assert history["history"] == 60 and len(history["whole"]) == 4
    assert set(history["nodes"]) == {"a", "b"}


def test_admin_allowed() -> None:
    """With tokens: the admin claim decides; without: only loopback peers."""
    admin = Principal(user="root", admin=True)
    user = Principal(user="alice")
    assert admin_allowed(admin, "203.0.113.9", tokens_required=True)
    assert not admin_allowed(user, "127.0.0.1", tokens_required=True)
    anonymous = Principal()
    for local in ("127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"):
        assert admin_allowed(anonymous, local, tokens_required=False), local
    for remote in ("10.0.0.1", "::ffff:10.0.0.1", "2001:db8::1", "unknown", "forwarded"):
        assert not admin_allowed(anonymous, remote, tokens_required=False), remote
    assert not is_loopback_address("localhost")  # a name is not an address


def test_admin_claim() -> None:
    """``admin`` is a boolean claim, absent meaning false; anything else is refused."""
    assert principal_from_claims({"sub": "a", "admin": True}, "x").admin
    assert not principal_from_claims({"sub": "a"}, "x").admin
    with pytest.raises(Unauthorized, match="claim admin"):
        principal_from_claims({"sub": "a", "admin": "yes"}, "x")
    with pytest.raises(Unauthorized, match="claim admin"):
        principal_from_claims({"sub": "a", "admin": 1}, "x")
