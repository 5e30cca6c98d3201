"""Who may use the admin routes (``hubbub.admin_access``).

The admin and mod claims themselves are pinned in tests/protocol/test_moderation_claims.py.
"""

from __future__ import annotations

import pytest

from hubbub.admin_access import admin_allowed, is_loopback_address
from hubbub.principal import Principal

ADDRESS = "192.0.2.7"


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
