"""The token's ``admin`` and ``mod`` claims and who moderates which room
(``hubbub.protocol.tokens``), both sides of each rule and every refusal's exact words.

docs/protocol.md#claims: ``admin`` is a JSON boolean (absent: false), ``mod`` a list of
room patterns as in ``rooms`` (absent: none); anything else makes the token malformed.
"""

from __future__ import annotations

from typing import Any

import pytest

from hubbub.errors import Unauthorized
from hubbub.principal import ANONYMOUS, Principal
from hubbub.protocol.tokens import can_moderate, principal_from_claims

ADDRESS = "192.0.2.7"
ADMIN = "token claim admin must be a boolean (true or false)"
MOD = (
    "token claim mod must be a list of room patterns (a room name, a prefix ending in '*', or '*')"
)


@pytest.mark.parametrize(
    ("claims", "admin"),
    [({"sub": "mia"}, False), ({"sub": "mia", "admin": False}, False), ({"admin": True}, True)],
)
def test_admin_claim_accepted(claims: dict[str, Any], admin: bool) -> None:
    principal = principal_from_claims({"sub": "mia", **claims}, ADDRESS)
    assert principal.admin is admin
    assert principal.user == "mia" and principal.address == ADDRESS


@pytest.mark.parametrize("value", ["true", "false", 1, 0, None, [True], {"yes": True}, 1.0])
def test_admin_claim_refused(value: Any) -> None:
    """Only a JSON boolean: "true" or 1 must not pass for true, nor null for false."""
    with pytest.raises(Unauthorized) as refused:
        principal_from_claims({"sub": "mia", "admin": value}, ADDRESS)
    assert refused.value.message == ADMIN
    assert (refused.value.status, refused.value.code) == (401, "unauthorized")


@pytest.mark.parametrize(
    ("claims", "mod"),
    [
        ({}, ()),
        ({"mod": []}, ()),
        ({"mod": ["general"]}, ("general",)),
        ({"mod": ["general", "team-*", "*"]}, ("general", "team-*", "*")),
        ({"mod": ["m" * 64, "m" * 64 + "*"]}, ("m" * 64, "m" * 64 + "*")),
    ],
)
def test_mod_claim_accepted(claims: dict[str, Any], mod: tuple[str, ...]) -> None:
    principal = principal_from_claims({"sub": "mia", **claims}, ADDRESS)
    assert principal.mod == mod and type(principal.mod) is tuple
    assert principal.admin is False


@pytest.mark.parametrize(
    "value",
    [
        "general",  # a string is not a list, though each of its characters is a room name
        "*",
        None,
        {"general": True},
        ("general",),
        ["gen*eral"],
        [".x"],
        ["general", ""],
        ["m" * 65],
        [3],
        [None],
        [["general"]],
    ],
)
def test_mod_claim_refused(value: Any) -> None:
    with pytest.raises(Unauthorized) as refused:
        principal_from_claims({"sub": "mia", "mod": value}, ADDRESS)
    assert refused.value.message == MOD
    assert (refused.value.status, refused.value.code) == (401, "unauthorized")


def test_admin_and_mod_with_every_other_claim() -> None:
    """The two claims sit beside rooms and exp without changing them."""
    principal = principal_from_claims(
        {
            "sub": "mia",
            "exp": 1_900_000_000,
            "rooms": {"read": ["general"], "write": []},
            "admin": True,
            "mod": ["team-*"],
        },
        ADDRESS,
    )
    assert principal == Principal(
        user="mia",
        read=("general",),
        write=(),
        expires=1_900_000_000.0,
        address=ADDRESS,
        admin=True,
        mod=("team-*",),
    )


@pytest.mark.parametrize(
    ("mod", "room", "moderates"),
    [
        (("general",), "general", True),
        (("general",), "general2", False),
        (("general",), "genera", False),
        (("team-*",), "team-", True),
        (("team-*",), "team-red", True),
        (("team-*",), "team", False),
        (("team-*",), "xteam-red", False),
        (("general", "team-*"), "team-red", True),
        (("general", "team-*"), "secret", False),
        (("*",), "secret", True),
        ((), "general", False),  # no mod claim: no room (not every room, as rooms would)
    ],
)
def test_can_moderate(mod: tuple[str, ...], room: str, moderates: bool) -> None:
    principal = Principal(user="mia", mod=mod)
    assert can_moderate(principal, room) is moderates


def test_reading_and_writing_every_room_moderates_none() -> None:
    """The anonymous principal reads and writes every room, and moderates none; nor does
    an admin's claim make ``can_moderate`` true (the admin's reach is checked apart)."""
    assert not can_moderate(ANONYMOUS, "general")
    assert not can_moderate(Principal(user="root", admin=True), "general")
