"""The rules of access tokens: room patterns, claims, and who may do what.

Pure: no I/O, no clock, no signature checking. ``auth.py`` verifies a token's
signature and expiry with PyJWT and hands the verified claims here, where they
become a :class:`~hubbub.principal.Principal`. Every refusal of a malformed claim
is ``401 unauthorized`` with a message that names the claim (never its value:
the claims are the token).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from hubbub.errors import Forbidden, InvalidMessage, Unauthorized
from hubbub.principal import Principal
from hubbub.protocol.messages import ROOM_NAME, validate_user

EVERY_ROOM = "*"

# RFC 7518 section 3.2: an HS256 key MUST be at least as long as the hash (256 bits).
MIN_SECRET_BYTES = 32

ROOM_ACCESS = ("read", "write")


def check_secret(secret: str) -> str:
    """Return ``secret`` if it is long enough to sign HS256 tokens, else raise ValueError."""
    if len(secret.encode()) < MIN_SECRET_BYTES:
        raise ValueError(
            f"the HS256 secret must be at least {MIN_SECRET_BYTES} bytes (RFC 7518 section 3.2)"
        )
    return secret


def is_pattern(value: object) -> bool:
    """True for ``*``, a room name, or a room name followed by ``*`` (a prefix)."""
    if not isinstance(value, str):
        return False
    if value == EVERY_ROOM:
        return True
    name = value.removesuffix(EVERY_ROOM)
    return ROOM_NAME.fullmatch(name) is not None


def validate_pattern(value: object) -> str:
    """Return ``value`` if it is a room pattern, else raise ValueError saying what one is."""
    if not is_pattern(value):
        raise ValueError(
            "a room pattern is a room name, a room-name prefix ending in '*', or '*' alone"
        )
    assert isinstance(value, str)
    return value


def parse_patterns(text: str) -> tuple[str, ...]:
    """Comma-separated patterns (blank items skipped), as an operator types them."""
    return tuple(validate_pattern(item.strip()) for item in text.split(",") if item.strip())


def allows(patterns: tuple[str, ...] | None, room: str) -> bool:
    """Whether ``room`` matches any of ``patterns``; None stands for every room.

    ``team-*`` matches ``team-`` itself and every room starting with it.
    """
    if patterns is None:
        return True
    for pattern in patterns:
        if pattern.endswith(EVERY_ROOM):
            if room.startswith(pattern[:-1]):
                return True
        elif room == pattern:
            return True
    return False


# Above every character a room name may hold (A-Z a-z 0-9 _ . -, all below "~"), so
# "team-" + ABOVE_NAMES sorts after every name starting with "team-".
ABOVE_NAMES = "~"


def name_ranges(patterns: tuple[str, ...]) -> list[tuple[str, str]]:
    """The room names ``patterns`` allow, as sorted, disjoint ``(low, high)`` ranges of
    names (both ends included), so a listing can ask the store for these alone:
    ``team-*`` is ``("team-", "team-~")``, ``x`` is ``("x", "x")``, ``*`` all names."""
    ranges = sorted(
        (pattern[:-1], pattern[:-1] + ABOVE_NAMES)
        if pattern.endswith(EVERY_ROOM)
        else (pattern, pattern)
        for pattern in patterns
    )
    merged: list[tuple[str, str]] = []
    for low, high in ranges:
        if merged and low <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(high, merged[-1][1]))
        else:
            merged.append((low, high))
    return merged


def name_before(name: str) -> str:
    """A string that sorts just before ``name`` among room names: every room name
    greater than it is ``name`` or greater (as the store's ``after`` wants)."""
    if not name:
        return ""
    return name[:-1] + chr(ord(name[-1]) - 1) + ABOVE_NAMES


def can_read(principal: Principal, room: str) -> bool:
    return allows(principal.read, room)


def can_write(principal: Principal, room: str) -> bool:
    return allows(principal.write, room)


def can_moderate(principal: Principal, room: str) -> bool:
    """Whether ``principal``'s ``mod`` claim names ``room`` (no claim: no room)."""
    return allows(principal.mod, room)


def _room_patterns(rooms: Mapping[str, Any], access: str) -> tuple[str, ...]:
    # Inside a present ``rooms`` claim a missing list grants nothing: a token that
    # names only ``read`` rooms is a read-only token, not one that writes everywhere.
    value = rooms.get(access, [])
    if not isinstance(value, list) or not all(is_pattern(item) for item in value):
        raise Unauthorized(
            f"token claim rooms.{access} must be a list of room patterns "
            "(a room name, a prefix ending in '*', or '*')"
        )
    return tuple(value)


def _rooms(claims: Mapping[str, Any]) -> tuple[tuple[str, ...] | None, tuple[str, ...] | None]:
    if "rooms" not in claims:
        return None, None
    rooms = claims["rooms"]
    if not isinstance(rooms, dict):
        raise Unauthorized('token claim rooms must be an object {"read": [...], "write": [...]}')
    unknown = sorted(str(key) for key in rooms if key not in ROOM_ACCESS)
    if unknown:
        # A misspelt key ("wirte") must not silently change what the token grants.
        raise Unauthorized(
            f"token claim rooms has unknown key(s) {', '.join(unknown)}: only read and write"
        )
    return _room_patterns(rooms, "read"), _room_patterns(rooms, "write")


def _subject(claims: Mapping[str, Any]) -> str:
    if "sub" not in claims:
        raise Unauthorized("token has no sub claim (the user name)")
    try:
        return validate_user(claims["sub"])
    except InvalidMessage as exc:
        raise Unauthorized(
            "token claim sub must be a user name: 1 to 64 characters, no control characters"
        ) from exc


def _expiry(claims: Mapping[str, Any]) -> float | None:
    if "exp" not in claims:
        return None
    exp = claims["exp"]
    if isinstance(exp, bool) or not isinstance(exp, int | float) or not math.isfinite(exp):
        raise Unauthorized("token claim exp must be a number of seconds since 1970")
    return float(exp)


def _admin(claims: Mapping[str, Any]) -> bool:
    admin = claims.get("admin", False)
    if not isinstance(admin, bool):
        # "true" or 1 must not pass for true: only a JSON boolean grants the admin routes.
        raise Unauthorized("token claim admin must be a boolean (true or false)")
    return admin


def _mod(claims: Mapping[str, Any]) -> tuple[str, ...]:
    mod = claims.get("mod", [])
    if not isinstance(mod, list) or not all(is_pattern(item) for item in mod):
        raise Unauthorized(
            "token claim mod must be a list of room patterns "
            "(a room name, a prefix ending in '*', or '*')"
        )
    return tuple(mod)


def principal_from_claims(claims: Mapping[str, Any], address: str) -> Principal:
    """The principal of a token whose signature and expiry were already verified."""
    read, write = _rooms(claims)
    return Principal(
        user=_subject(claims),
        read=read,
        write=write,
        expires=_expiry(claims),
        address=address,
        admin=_admin(claims),
        mod=_mod(claims),
    )


def check_publish_user(principal: Principal, user: object) -> str:
    """The user a publish is stored under; ``user`` is the request's field, None if absent.

    Without a token the request must name its user. With one, the server stamps the
    token's ``sub``: a request naming no user gets it, one naming another is forbidden.
    """
    if principal.user is None:
        if user is None:
            raise InvalidMessage("user is required")
        return validate_user(user)
    if user is not None and validate_user(user) != principal.user:
        raise Forbidden("user must be the token's user (its sub claim) or left out")
    return principal.user
