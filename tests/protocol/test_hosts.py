"""The names a server without tokens answers to (``protocol/hosts.py``), both sides of
every rule: against DNS rebinding, a ``Host`` must be an address, ``localhost`` or a name
the server is known by."""

from __future__ import annotations

import pytest

from hubbub.protocol.hosts import host_known, host_name, is_address, known_hosts


@pytest.mark.parametrize(
    ("authority", "name"),
    [
        ("Chat.Example.ORG", "chat.example.org"),
        ("chat.example.org:8443", "chat.example.org"),
        ("chat.example.org.", "chat.example.org"),
        ("chat.example.org.:80", "chat.example.org"),
        ("  chat.example.org  ", "chat.example.org"),
        ("[::1]:8000", "::1"),
        ("[::1]", "::1"),
        ("[::1", "[::1"),  # no closing bracket: taken as it is
        ("[::1]]", "::1"),  # the first closing bracket ends the address; a port may follow
        ("::1", "::1"),  # two colons, no brackets: an address, not host:port
        ("127.0.0.1:8000", "127.0.0.1"),
        ("", ""),
    ],
)
def test_the_host_of_a_host_header(authority: str, name: str) -> None:
    assert host_name(authority) == name


@pytest.mark.parametrize(
    ("name", "address"),
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("10.1.2.3", True),
        ("localhost", False),
        ("", False),
        ("1.2.3", False),
        ("256.0.0.1", False),
        ("chat.example.org", False),
    ],
)
def test_addresses(name: str, address: bool) -> None:
    assert is_address(name) is address


def test_known_hosts_come_from_host_public_hosts_and_allowed_origins() -> None:
    known = known_hosts(
        "Chat.Example.org",
        ("Other.Example.", "  ", "third.example:8443"),
        "https://Pages.Example.net:8443, http://x.example./, *, not an origin",
    )
    assert known == frozenset(
        {"chat.example.org", "other.example", "third.example", "pages.example.net", "x.example"}
    )
    assert known_hosts("", (), None) == frozenset()
    assert known_hosts("", (), "https://a.example,http://b.example:8000") == frozenset(
        {"a.example", "b.example"}
    )
    assert known_hosts("0.0.0.0", (), "") == frozenset({"0.0.0.0"})


KNOWN = frozenset({"chat.example.org"})


@pytest.mark.parametrize(
    ("host", "answered"),
    [
        (None, True),  # no Host: not a browser
        ("", True),
        ("chat.example.org", True),
        ("CHAT.example.org:8443", True),
        ("chat.example.org.", True),
        ("localhost", True),
        ("localhost:8000", True),
        ("app.localhost", True),
        ("127.0.0.1:8000", True),
        ("[::1]:8000", True),
        ("rebind.example", False),
        ("chat.example.org.evil", False),
        ("localhost.evil", False),
        ("notlocalhost", False),
        ("xlocalhost", False),
    ],
)
def test_a_request_is_answered_only_for_a_known_host(host: str | None, answered: bool) -> None:
    assert host_known(host, KNOWN) is answered
