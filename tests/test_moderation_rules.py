"""The pure rules of moderation: the admin and mod claims, and who may use admin routes."""

from __future__ import annotations

from typing import Any

import pytest

from hubbub.admin_access import admin_allowed, is_loopback_address
from hubbub.errors import Unauthorized
from hubbub.principal import Principal
from hubbub.protocol.tokens import can_moderate, principal_from_claims

ADDRESS = "192.0.2.7"


def test_admin_and_mod_claims_become_the_principal() -> None:
    """admin: true and mod patterns are carried; without them, no admin and no rooms."""
    principal = principal_from_claims(
        {"sub": "mia", "admin": True, "mod": ["general", "team-*"]}, ADDRESS
    )
    assert (principal.admin, principal.mod) == (True, ("general", "team-*"))
    assert can_moderate(principal, "general") and can_moderate(principal, "team-red")
    assert not can_moderate(principal, "secret")
    plain = principal_from_claims({"sub": "bob"}, ADDRESS)
    assert (plain.admin, plain.mod) == (False, ())
    assert not can_moderate(plain, "general")
    assert not principal_from_claims({"sub": "x", "admin": False}, ADDRESS).admin


@pytest.mark.parametrize("value", ["true", 1, None, [True], {"yes": True}])
def test_admin_claim_must_be_a_boolean(value: Any) -> None:
    """Anything but a JSON boolean is a malformed token, 401 naming the claim."""
    with pytest.raises(Unauthorized, match="token claim admin must be a boolean"):
        principal_from_claims({"sub": "mia", "admin": value}, ADDRESS)


@pytest.mark.parametrize("value", ["general", ["gen*eral"], [".x"], [3], {"rooms": []}])
def test_mod_claim_must_be_a_list_of_patterns(value: Any) -> None:
    """mod takes the rooms claim's pattern syntax, and nothing else."""
    with pytest.raises(Unauthorized, match="token claim mod must be a list of room patterns"):
        principal_from_claims({"sub": "mia", "mod": value}, ADDRESS)


@pytest.mark.parametrize(
    ("address", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("192.0.2.7", False),
        ("::ffff:192.0.2.7", False),
        ("10.0.0.1", False),
        ("unknown", False),
        ("", False),
    ],
)
def test_loopback_addresses(address: str, loopback: bool) -> None:
    """127.0.0.0/8 and ::1 (also IPv4-mapped) are this machine; nothing else is."""
    assert is_loopback_address(address) is loopback


def test_admin_allowed() -> None:
    """With tokens, the admin claim decides wherever the request comes from; without,
    only a loopback peer."""
    admin, plain = Principal(user="root", admin=True), Principal(user="bob")
    assert admin_allowed(admin, ADDRESS, True)
    assert not admin_allowed(plain, "127.0.0.1", True)
    assert admin_allowed(plain, "127.0.0.1", False)
    assert admin_allowed(plain, "::1", False)
    assert not admin_allowed(admin, ADDRESS, False)
