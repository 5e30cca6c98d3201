"""Moderation's pure rules (``hubbub.protocol.moderation``): the mute request, the mute
table the publish path checks, and the wire shape of mutes and audit entries.

Times are passed in; they are Unix seconds with binary fractions (``.25``, ``.5``) so
every expected number is exact. The bodies are compared byte for byte with what
docs/protocol.md#moderation shows (orjson writes them without blanks).
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from hubbub.errors import InvalidMessage, Muted
from hubbub.protocol.moderation import (
    MAX_MUTE_SECONDS,
    MAX_REASON,
    AuditEntry,
    Mute,
    MuteRequest,
    MuteTable,
    actor_name,
    seconds_left,
    validate_mute_request,
)

NOW = 1_900_000_000.0
SECONDS = "seconds must be a whole number from 1 to 2592000"
REASON = "reason must be a string of at most 500 characters"


def test_the_limits_are_those_of_the_wire_contract() -> None:
    """30 days and 500 characters, as docs/protocol.md#mutes says."""
    assert (MAX_MUTE_SECONDS, MAX_REASON) == (2_592_000, 500)


@pytest.mark.parametrize(
    ("until", "now", "left"),
    [
        (NOW + 600, NOW, 600),
        (NOW + 41.25, NOW, 42),  # rounded up: the client is never told to come back early
        (NOW + 0.25, NOW, 1),
        (NOW + 1, NOW, 1),
        (NOW, NOW, 0),
        (NOW, NOW + 0.5, 0),  # ended: zero, never negative
        (NOW, NOW + 5, 0),
    ],
)
def test_seconds_left(until: float, now: float, left: int) -> None:
    assert seconds_left(until, now) == left
    assert type(seconds_left(until, now)) is int


# The mute request: POST /rooms/{room}/mutes


@pytest.mark.parametrize(
    ("fields", "request_"),
    [
        (
            {"user": "bob", "seconds": 600, "reason": "flooding"},
            MuteRequest("bob", 600, "flooding"),
        ),
        ({"user": "bob", "seconds": 1}, MuteRequest("bob", 1, "")),  # the shortest
        ({"user": "bob", "seconds": 2_592_000}, MuteRequest("bob", 2_592_000, "")),  # the longest
        ({"user": "  bob ", "seconds": 60, "reason": None}, MuteRequest("bob", 60, "")),
        ({"user": "bob", "seconds": 60, "reason": "  spam\n"}, MuteRequest("bob", 60, "spam")),
        ({"user": "bob", "seconds": 60, "reason": "r" * 500}, MuteRequest("bob", 60, "r" * 500)),
        ({"user": "b" * 64, "seconds": 60, "reason": ""}, MuteRequest("b" * 64, 60, "")),
    ],
)
def test_mute_requests_accepted(fields: dict[str, Any], request_: MuteRequest) -> None:
    assert validate_mute_request(fields) == request_


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({}, "user is required: the user to mute"),
        ({"seconds": 60}, "user is required: the user to mute"),
        ({"user": None, "seconds": 60}, "user must be a string"),
        ({"user": " ", "seconds": 60}, "user must not be blank"),
        ({"user": "b" * 65, "seconds": 60}, "user must be at most 64 characters"),
        ({"user": "bob"}, SECONDS),
        ({"user": "bob", "seconds": None}, SECONDS),
        ({"user": "bob", "seconds": 0}, SECONDS),
        ({"user": "bob", "seconds": -1}, SECONDS),
        ({"user": "bob", "seconds": 2_592_001}, SECONDS),  # one past 30 days
        ({"user": "bob", "seconds": True}, SECONDS),  # a JSON boolean is not 1
        ({"user": "bob", "seconds": False}, SECONDS),
        ({"user": "bob", "seconds": 60.0}, SECONDS),
        ({"user": "bob", "seconds": 0.5}, SECONDS),
        ({"user": "bob", "seconds": "600"}, SECONDS),
        ({"user": "bob", "seconds": 60, "reason": "r" * 501}, REASON),  # one past the limit
        ({"user": "bob", "seconds": 60, "reason": " " + "r" * 500}, REASON),  # before trimming
        ({"user": "bob", "seconds": 60, "reason": 5}, REASON),
        ({"user": "bob", "seconds": 60, "reason": ["spam"]}, REASON),
        ({"user": "bob", "seconds": 60, "reason": False}, REASON),
    ],
)
def test_mute_requests_refused(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidMessage) as refused:
        validate_mute_request(fields)
    assert refused.value.message == message
    assert (refused.value.status, refused.value.code) == (400, "invalid_message")


# The wire shape of a mute and of an audit entry


def test_mute_body_bytes() -> None:
    """The ``201`` body of docs/protocol.md#mutes: times in integer ms, seconds left."""
    mute = Mute("general", "bob", 1763751834.567, "flooding", "mia", 1763751234.567)
    assert orjson.dumps({"mute": mute.to_dict(1763751234.567)}) == (
        b'{"mute":{"room":"general","user":"bob","until":1763751834567,"seconds_left":600,'
        b'"reason":"flooding","by":"mia","at":1763751234567}}'
    )


def test_mute_seconds_left_counts_from_now_and_rounds_up() -> None:
    mute = Mute("general", "bob", NOW + 600, "", "mia", NOW)
    assert mute.to_dict(NOW + 599.75)["seconds_left"] == 1
    assert mute.to_dict(NOW + 600)["seconds_left"] == 0
    assert mute.to_dict(NOW + 700)["seconds_left"] == 0


def test_mute_defaults_and_millisecond_truncation() -> None:
    """A mute names no reason and no moderator unless given; ms are whole (cut, not rounded)."""
    mute = Mute("r", "u", 12.3456)
    assert (mute.reason, mute.by, mute.at) == ("", "", 0.0)
    assert orjson.dumps(mute.to_dict(0.0)) == (
        b'{"room":"r","user":"u","until":12345,"seconds_left":13,"reason":"","by":"","at":0}'
    )


def test_mute_record_round_trip() -> None:
    """What a store keeps: the same fields, times as float seconds, read back equal."""
    mute = Mute("general", "bob", NOW + 60.5, "spam", "mia", NOW + 0.25)
    record = mute.to_record()
    assert orjson.dumps(record) == (
        b'{"room":"general","user":"bob","until":1900000060.5,"reason":"spam","by":"mia",'
        b'"at":1900000000.25}'
    )
    assert Mute.from_record(orjson.loads(orjson.dumps(record))) == mute


def test_mute_from_a_short_record() -> None:
    """An older record without reason, by or at reads as their defaults; integer times
    and other JSON scalars become the field's type."""
    read = Mute.from_record({"room": "general", "user": "bob", "until": 1_900_000_060})
    assert read == Mute("general", "bob", 1_900_000_060.0, "", "", 0.0)
    assert type(read.until) is float and type(read.at) is float
    read = Mute.from_record(
        {"room": 7, "user": 8, "until": "5.5", "reason": 9, "by": 10, "at": "2.25"}
    )
    assert read == Mute("7", "8", 5.5, "9", "10", 2.25)


def test_audit_body_bytes() -> None:
    """The page of docs/protocol.md#the-audit-get-adminaudit, byte for byte."""
    entry = AuditEntry(
        "mia", "mute", 1763751234.567, "general", "bob", {"seconds": 600, "reason": "flooding"}, 7
    )
    assert orjson.dumps({"entries": [entry.to_dict()], "next": None}) == (
        b'{"entries":[{"id":7,"at":1763751234567,"actor":"mia","action":"mute",'
        b'"room":"general","user":"bob","detail":{"seconds":600,"reason":"flooding"}}],'
        b'"next":null}'
    )


def test_audit_entry_defaults() -> None:
    """A room-less, user-less action has null for both, an empty detail, and id 0 until
    the store gives it one."""
    entry = AuditEntry("address 127.0.0.1", "disconnect", 2.5)
    assert orjson.dumps(entry.to_dict()) == (
        b'{"id":0,"at":2500,"actor":"address 127.0.0.1","action":"disconnect",'
        b'"room":null,"user":null,"detail":{}}'
    )


def test_audit_record_round_trip() -> None:
    """The record leaves out the id (the store's); reading it back takes the id given."""
    entry = AuditEntry("mia", "delete", NOW + 0.5, "general", "bob", {"target": 6, "id": 9})
    record = entry.to_record()
    assert orjson.dumps(record) == (
        b'{"actor":"mia","action":"delete","at":1900000000.5,"room":"general","user":"bob",'
        b'"detail":{"target":6,"id":9}}'
    )
    read = AuditEntry.from_record(orjson.loads(orjson.dumps(record)), 41)
    assert read == AuditEntry(
        "mia", "delete", NOW + 0.5, "general", "bob", {"target": 6, "id": 9}, 41
    )
    clear = AuditEntry("root", "clear", NOW, "general", None, {"epoch": "p0q7c2mz"})
    assert AuditEntry.from_record(clear.to_record(), 42) == AuditEntry(
        "root", "clear", NOW, "general", None, {"epoch": "p0q7c2mz"}, 42
    )


@pytest.mark.parametrize("detail", [{}, {"detail": None}, {"detail": {}}])
def test_audit_from_a_short_record(detail: dict[str, Any]) -> None:
    """No room, user or detail (or a null detail) reads as null, null and {}."""
    read = AuditEntry.from_record({"actor": 5, "action": "clear", "at": 3, **detail}, 2)
    assert read == AuditEntry("5", "clear", 3.0, None, None, {}, 2)
    assert type(read.at) is float and type(read.detail) is dict


def test_audit_from_record_copies_the_detail() -> None:
    """The entry owns its detail: changing the record afterwards does not change it."""
    record: dict[str, Any] = {"actor": "a", "action": "mute", "at": 1.0, "detail": {"n": 1}}
    read = AuditEntry.from_record(record, 1)
    record["detail"]["n"] = 2
    assert read.detail == {"n": 1}


@pytest.mark.parametrize(
    ("user", "address", "actor"),
    [
        ("mia", "192.0.2.7", "mia"),
        ("address 10.0.0.1", "127.0.0.1", "address 10.0.0.1"),
        (None, "127.0.0.1", "address 127.0.0.1"),
        (None, "::1", "address ::1"),
    ],
)
def test_actor_name(user: str | None, address: str, actor: str) -> None:
    """The token's user, or without tokens the address the admin's request came from."""
    assert actor_name(user, address) == actor


# The mute table: what the publish path checks


def mute(room: str, user: str, until: float) -> Mute:
    return Mute(room, user, until, "", "mia", NOW)


def test_find_until_the_mute_ends() -> None:
    """Muted up to the instant ``until``, not at it; only that user, only in that room."""
    table = MuteTable()
    bob = mute("general", "bob", NOW + 60)
    table.put(bob)
    assert table.find("general", "bob", NOW) is bob
    assert table.find("general", "bob", NOW + 59.75) is bob
    assert table.find("general", "bob", NOW + 60) is None
    assert table.find("general", "bob", NOW + 61) is None
    assert table.find("general", "alice", NOW) is None
    assert table.find("random", "bob", NOW) is None


def test_find_in_a_room_left_empty() -> None:
    """A room whose every mute was taken out reads as having none."""
    table = MuteTable({"general": {}})
    assert table.find("general", "bob", NOW) is None


def test_check_refuses_with_the_seconds_left() -> None:
    """403 muted, the message and retry_after saying the seconds left, rounded up."""
    table = MuteTable()
    table.put(mute("general", "bob", NOW + 41.25))
    with pytest.raises(Muted) as refused:
        table.check("general", "bob", NOW)
    assert refused.value.message == "you are muted in room general for 42 more seconds"
    assert (refused.value.status, refused.value.code, refused.value.retry_after) == (
        403,
        "muted",
        42,
    )
    with pytest.raises(Muted) as last:
        table.check("general", "bob", NOW + 41)
    assert (last.value.message, last.value.retry_after) == (
        "you are muted in room general for 1 more seconds",
        1,
    )
    table.check("general", "bob", NOW + 41.25)  # ended: nothing raised
    table.check("general", "alice", NOW)
    table.check("random", "bob", NOW)


def test_put_replaces_the_user_s_mute_in_that_room_only() -> None:
    table = MuteTable()
    table.put(mute("general", "bob", NOW + 60))
    table.put(mute("random", "bob", NOW + 10))
    again = mute("general", "bob", NOW + 5)
    table.put(again)
    assert table.rooms == {
        "general": {"bob": again},
        "random": {"bob": mute("random", "bob", NOW + 10)},
    }


def test_replace_forgets_what_was_known() -> None:
    """The store's list afresh: mutes no longer in it are gone, the rest by room and user."""
    table = MuteTable()
    table.put(mute("old", "eve", NOW + 60))
    table.replace(
        [mute("general", "bob", NOW + 60), mute("general", "amy", NOW + 9), mute("x", "bob", 1)]
    )
    assert table.rooms == {
        "general": {
            "bob": mute("general", "bob", NOW + 60),
            "amy": mute("general", "amy", NOW + 9),
        },
        "x": {"bob": mute("x", "bob", 1)},
    }
    table.replace([])
    assert table.rooms == {}


def test_lift() -> None:
    """Lifting takes out that user's mute; a room left without mutes is forgotten;
    lifting what is not there changes nothing."""
    table = MuteTable()
    table.put(mute("general", "bob", NOW + 60))
    table.put(mute("general", "amy", NOW + 60))
    table.lift("general", "eve")
    table.lift("random", "bob")
    assert set(table.rooms) == {"general"} and set(table.rooms["general"]) == {"bob", "amy"}
    table.lift("general", "bob")
    assert table.rooms == {"general": {"amy": mute("general", "amy", NOW + 60)}}
    table.lift("general", "amy")
    assert table.rooms == {}
    table.lift("general", "amy")
    assert table.rooms == {}


def test_active_lists_running_mutes_by_user() -> None:
    table = MuteTable()
    for user, until in (("zed", NOW + 5), ("bob", NOW + 60), ("amy", NOW + 1), ("eve", NOW)):
        table.put(mute("general", user, until))
    table.put(mute("random", "ann", NOW + 60))
    assert [m.user for m in table.active("general", NOW)] == ["amy", "bob", "zed"]
    assert [m.user for m in table.active("general", NOW + 1)] == ["bob", "zed"]
    assert [m.user for m in table.active("general", NOW + 60)] == []
    assert table.active("elsewhere", NOW) == []
    assert table.active("general", NOW - 1) == [
        mute("general", "amy", NOW + 1),
        mute("general", "bob", NOW + 60),
        mute("general", "eve", NOW),
        mute("general", "zed", NOW + 5),
    ]


def test_forget_ended() -> None:
    """Mutes that ended (``until`` now or earlier) go; a room left empty goes with them."""
    table = MuteTable()
    table.put(mute("general", "bob", NOW + 60))
    table.put(mute("general", "amy", NOW + 10))
    table.put(mute("random", "eve", NOW + 10))
    table.put(mute("quiet", "ann", NOW + 10.5))
    table.forget_ended(NOW + 9.5)
    assert {room: sorted(users) for room, users in table.rooms.items()} == {
        "general": ["amy", "bob"],
        "random": ["eve"],
        "quiet": ["ann"],
    }
    table.forget_ended(NOW + 10)
    assert table.rooms == {
        "general": {"bob": mute("general", "bob", NOW + 60)},
        "quiet": {"ann": mute("quiet", "ann", NOW + 10.5)},
    }
    table.forget_ended(NOW + 100)
    assert table.rooms == {}
