"""The client's address behind a reverse proxy, chosen without sockets."""

from __future__ import annotations

import ipaddress

import pytest

from hubbub.protocol.forwarded import TrustedProxies, parse_address, parse_networks

PROXIES = TrustedProxies(parse_networks("10.0.0.0/8, 192.168.1.1, ::1"))


def client(peer: str, forwarded_for: str | None = None, real_ip: str | None = None) -> str:
    return PROXIES.client_of(peer, forwarded_for, real_ip)


def test_untrusted_peer_is_the_client_whatever_it_says() -> None:
    """From a peer not in the list, both headers are ignored."""
    assert client("203.0.113.9", "198.51.100.1", "198.51.100.2") == "203.0.113.9"
    assert TrustedProxies().client_of("127.0.0.1", "198.51.100.1", None) == "127.0.0.1"


def test_rightmost_untrusted_hop_is_the_client() -> None:
    """A client cannot pick its address by sending a list: the right end is believed."""
    assert client("10.0.0.2", "198.51.100.7") == "198.51.100.7"
    # The client sent "1.1.1.1" itself; the proxy appended what it saw.
    assert client("10.0.0.2", "1.1.1.1, 198.51.100.7") == "198.51.100.7"
    # Two trusted proxies in a row are skipped.
    assert client("10.0.0.2", "1.1.1.1, 198.51.100.7, 10.9.9.9, 192.168.1.1") == "198.51.100.7"


def test_every_hop_trusted_gives_the_leftmost() -> None:
    """A request that began at a trusted address is from that address."""
    assert client("10.0.0.2", "10.1.1.1, 10.2.2.2") == "10.1.1.1"


def test_a_hop_that_is_not_an_address_ends_the_walk() -> None:
    """Past a broken hop nothing is believed: the trusted hop to its right is the client."""
    assert client("10.0.0.2", "198.51.100.7, unknown, 10.3.3.3") == "10.3.3.3"
    assert client("10.0.0.2", "garbage") == "10.0.0.2"


def test_real_ip_when_there_is_no_forwarded_for() -> None:
    """X-Real-IP is used only without X-Forwarded-For, and only if it is an address."""
    assert client("10.0.0.2", None, "198.51.100.3") == "198.51.100.3"
    assert client("10.0.0.2", "198.51.100.7", "198.51.100.3") == "198.51.100.7"
    assert client("10.0.0.2", "  ", "198.51.100.3") == "198.51.100.3"
    assert client("10.0.0.2", None, "not-an-address") == "10.0.0.2"
    assert client("10.0.0.2") == "10.0.0.2"


def test_ports_brackets_and_mapped_addresses() -> None:
    """Hops with ports, bracketed IPv6 and IPv4-mapped peers are read as addresses."""
    assert client("10.0.0.2", "198.51.100.7:4711") == "198.51.100.7"
    assert client("10.0.0.2", "[2001:db8::1]:443") == "2001:db8::1"
    assert client("::1", "2001:db8::2") == "2001:db8::2"
    assert client("::ffff:10.0.0.2", "198.51.100.7") == "198.51.100.7"
    assert parse_address("::ffff:198.51.100.7") == parse_address("198.51.100.7")
    assert parse_address("proxy.example") is None


def test_trusts_only_the_listed_networks() -> None:
    """A network, a single address and IPv6 are matched; names never are."""
    assert PROXIES.trusts("10.255.0.1") and PROXIES.trusts("192.168.1.1")
    assert not PROXIES.trusts("192.168.1.2")
    assert not PROXIES.trusts("unknown")
    assert not TrustedProxies().trusts("10.0.0.1")


def test_networks_are_read_whole_and_blanks_skipped() -> None:
    """An address with host bits and a prefix is its network; empty parts are skipped,
    not the end of the list."""
    assert parse_networks("10.1.2.3/8") == (ipaddress.ip_network("10.0.0.0/8"),)
    assert parse_networks("10.0.0.1, ,,::1,") == (
        ipaddress.ip_network("10.0.0.1/32"),
        ipaddress.ip_network("::1/128"),
    )


def test_trusted_proxies_made_from_networks() -> None:
    """A list made here, not at import: the networks it is given are the ones it trusts,
    and it is true exactly when there are some."""
    proxies = TrustedProxies(parse_networks("192.0.2.0/24"))
    assert proxies and proxies.trusts("192.0.2.200")
    assert proxies.client_of("192.0.2.1", "198.51.100.7", None) == "198.51.100.7"
    assert not TrustedProxies()
    assert not TrustedProxies(())


def test_an_address_in_brackets_ends_at_the_first_closing_one() -> None:
    """``[v6]`` then perhaps a port: what follows the first ``]`` is not the address."""
    assert parse_address("[2001:db8::1]]") == ipaddress.ip_address("2001:db8::1")


def test_bad_network_is_named() -> None:
    """A part that is not a network is refused by name."""
    with pytest.raises(ValueError, match=r"'10\.0\.0\.0/33' is not an address or a network"):
        parse_networks("127.0.0.1,10.0.0.0/33")
    assert parse_networks(" , ") == ()
