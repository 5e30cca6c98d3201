"""The pure rules of access tokens: room patterns, claims to principals, publish users."""

from __future__ import annotations

from typing import Any

import pytest

from hubbub.errors import Forbidden, InvalidMessage, Unauthorized
from hubbub.principal import ANONYMOUS, Principal
from hubbub.protocol.tokens import (
    allows,
    can_read,
    can_write,
    check_publish_user,
    check_secret,
    is_pattern,
    name_before,
    name_ranges,
    parse_patterns,
    principal_from_claims,
    validate_pattern,
)

ADDRESS = "192.0.2.7"


@pytest.mark.parametrize("pattern", ["*", "lobby", "team-*", "a*", "x" * 64, "x" * 64 + "*"])
def test_patterns_accepted(pattern: str) -> None:
    """A room name, a room-name prefix ending in '*', and '*' alone are patterns."""
    assert is_pattern(pattern)
    assert validate_pattern(pattern) == pattern


@pytest.mark.parametrize(
    "pattern",
    ["", "**", "a*b", "*a", "team-**", ".hidden", ".hid*", "sp ace", "x" * 65, "é*", 7, None],
)
def test_patterns_refused(pattern: object) -> None:
    """Anything else, including a '*' that is not last, is refused with what a pattern is."""
    assert not is_pattern(pattern)
    with pytest.raises(ValueError, match="room pattern is a room name"):
        validate_pattern(pattern)


def test_parse_patterns_splits_commas_and_skips_blanks() -> None:
    """Operators type patterns comma-separated; spaces and empty items are ignored."""
    assert parse_patterns(" team-*, lobby ,,") == ("team-*", "lobby")
    assert parse_patterns("") == ()
    with pytest.raises(ValueError, match="room pattern"):
        parse_patterns("lobby,a*b")


def test_name_ranges_cover_exactly_what_the_patterns_allow() -> None:
    patterns = ("x", "team-*", "team-a", "b*", "bob")
    ranges = name_ranges(patterns)
    assert ranges == [("b", "b~"), ("team-", "team-~"), ("x", "x")]
    names = ["a", "b", "ba", "bob", "c", "team", "team-", "team-z.9", "teamz", "x", "x0"]
    inside = [n for n in names if any(low <= n <= high for low, high in ranges)]
    assert inside == [n for n in names if allows(patterns, n)]
    assert name_ranges(("*",)) == [("", "~")]
    # A range that starts where the one before ends is the same range: no name twice.
    assert name_ranges(("x", "x")) == [("x", "x")]
    assert name_ranges(("team-", "team-*")) == [("team-", "team-~")]
    # The empty prefix of ``*``: the store lists from the start.
    assert name_before("") == ""
    for name in ("b", "team-", "x0", "A"):
        before = name_before(name)
        assert before < name and not any(before < n < name for n in [*names, "a" * 64, "Az"])


def test_allows() -> None:
    """Names match exactly, prefixes match their start (and the prefix itself), None all."""
    assert allows(None, "anything")
    assert allows(("*",), "anything")
    assert allows(("lobby",), "lobby")
    assert not allows(("lobby",), "lobby2")
    assert not allows(("lobby",), "lobb")
    assert allows(("team-*",), "team-red")
    assert allows(("team-*",), "team-")
    assert not allows(("team-*",), "team")
    assert not allows(("team-*",), "Team-red")
    assert allows(("lobby", "team-*"), "team-blue")
    assert not allows((), "lobby")


def test_claims_without_rooms_grant_every_room() -> None:
    """sub becomes the user, exp the expiry; no rooms claim reads and writes everywhere."""
    principal = principal_from_claims({"sub": "alice", "exp": 1_900_000_000}, ADDRESS)
    assert principal == Principal(
        user="alice", read=None, write=None, expires=1_900_000_000.0, address=ADDRESS
    )
    assert principal.key == "user:alice"
    assert can_read(principal, "any-room") and can_write(principal, "any-room")


def test_claims_without_exp_never_expire() -> None:
    """exp is optional: without it the principal never expires; sub is trimmed like a user."""
    principal = principal_from_claims({"sub": "  bob ", "iat": 5}, ADDRESS)
    assert (principal.user, principal.expires) == ("bob", None)


def test_rooms_claim_limits_read_and_write() -> None:
    """rooms.read and rooms.write are the patterns the principal may read and write."""
    claims = {"sub": "alice", "rooms": {"read": ["team-*", "lobby"], "write": ["team-red"]}}
    principal = principal_from_claims(claims, ADDRESS)
    assert (principal.read, principal.write) == (("team-*", "lobby"), ("team-red",))
    assert can_read(principal, "lobby") and can_read(principal, "team-blue")
    assert not can_read(principal, "secret")
    assert can_write(principal, "team-red")
    assert not can_write(principal, "team-blue") and not can_write(principal, "lobby")


def test_rooms_claim_missing_list_grants_nothing() -> None:
    """Inside a rooms claim, a list left out grants nothing: read-only tokens are possible."""
    principal = principal_from_claims({"sub": "alice", "rooms": {"read": ["*"]}}, ADDRESS)
    assert (principal.read, principal.write) == (("*",), ())
    assert can_read(principal, "lobby") and not can_write(principal, "lobby")
    empty = principal_from_claims({"sub": "alice", "rooms": {}}, ADDRESS)
    assert (empty.read, empty.write) == ((), ())


MALFORMED: list[tuple[dict[str, Any], str]] = [
    ({}, "no sub claim"),
    ({"sub": None}, "sub must be a user name"),
    ({"sub": 42}, "sub must be a user name"),
    ({"sub": ["alice"]}, "sub must be a user name"),
    ({"sub": ""}, "sub must be a user name"),
    ({"sub": "   "}, "sub must be a user name"),
    ({"sub": "x" * 65}, "sub must be a user name"),
    ({"sub": "ali\x00ce"}, "sub must be a user name"),
    ({"sub": "ali\nce"}, "sub must be a user name"),
    ({"sub": "alice", "exp": "1900000000"}, "exp must be a number"),
    ({"sub": "alice", "exp": True}, "exp must be a number"),
    ({"sub": "alice", "exp": None}, "exp must be a number"),
    ({"sub": "alice", "exp": float("inf")}, "exp must be a number"),
    ({"sub": "alice", "exp": float("nan")}, "exp must be a number"),
    ({"sub": "alice", "rooms": None}, "rooms must be an object"),
    ({"sub": "alice", "rooms": ["lobby"]}, "rooms must be an object"),
    ({"sub": "alice", "rooms": "*"}, "rooms must be an object"),
    ({"sub": "alice", "rooms": {"wirte": ["*"]}}, "unknown key"),
    ({"sub": "alice", "rooms": {"read": ["*"], "publish": []}}, "unknown key"),
    ({"sub": "alice", "rooms": {"read": "lobby"}}, "rooms.read must be a list"),
    ({"sub": "alice", "rooms": {"read": None}}, "rooms.read must be a list"),
    ({"sub": "alice", "rooms": {"read": [1]}}, "rooms.read must be a list"),
    ({"sub": "alice", "rooms": {"read": ["a*b"]}}, "rooms.read must be a list"),
    ({"sub": "alice", "rooms": {"write": [""]}}, "rooms.write must be a list"),
    ({"sub": "alice", "rooms": {"write": {"lobby": True}}}, "rooms.write must be a list"),
    ({"sub": "alice", "rooms": {"read": ["*"], "write": [".x"]}}, "rooms.write must be a list"),
]


@pytest.mark.parametrize(("claims", "reason"), MALFORMED)
def test_malformed_claims_are_unauthorized(claims: dict[str, Any], reason: str) -> None:
    """Every malformed claim is 401 unauthorized with a message naming the claim."""
    with pytest.raises(Unauthorized, match=reason) as caught:
        principal_from_claims(claims, ADDRESS)
    assert (caught.value.status, caught.value.code) == (401, "unauthorized")


def test_malformed_claim_message_does_not_quote_the_value() -> None:
    """The refusal names the claim, never its value (the claims are the token)."""
    with pytest.raises(Unauthorized) as caught:
        principal_from_claims({"sub": "alice", "rooms": {"read": ["sekrit value*x"]}}, ADDRESS)
    assert "sekrit" not in caught.value.message


def test_publish_user_with_a_token_is_stamped_from_sub() -> None:
    """With a token, no user gets sub, the same user (trimmed) is kept, another is forbidden."""
    alice = Principal(user="alice", address=ADDRESS)
    assert check_publish_user(alice, None) == "alice"
    assert check_publish_user(alice, "alice") == "alice"
    assert check_publish_user(alice, " alice ") == "alice"
    with pytest.raises(Forbidden, match="token's user") as caught:
        check_publish_user(alice, "admin")
    assert (caught.value.status, caught.value.code) == (403, "forbidden")
    with pytest.raises(Forbidden):
        check_publish_user(alice, "Alice")
    with pytest.raises(InvalidMessage, match="user must be a string"):
        check_publish_user(alice, 7)


def test_publish_user_without_a_token_is_the_request_s() -> None:
    """Without a token the request names its user, which must be a valid user name."""
    assert check_publish_user(ANONYMOUS, "bob") == "bob"
    assert check_publish_user(Principal(address=ADDRESS), " bob ") == "bob"
    with pytest.raises(InvalidMessage, match="user is required"):
        check_publish_user(ANONYMOUS, None)
    with pytest.raises(InvalidMessage, match="blank"):
        check_publish_user(ANONYMOUS, "  ")


def test_anonymous_reads_and_writes_every_room() -> None:
    """With access control off the anonymous principal may use every room."""
    assert can_read(ANONYMOUS, "lobby") and can_write(ANONYMOUS, "lobby")


def test_secret_length() -> None:
    """HS256 secrets shorter than 32 bytes are refused (RFC 7518 section 3.2)."""
    assert check_secret("s" * 32) == "s" * 32
    assert check_secret("é" * 16) == "é" * 16  # 32 bytes in UTF-8
    with pytest.raises(ValueError, match="at least 32 bytes"):
        check_secret("s" * 31)
