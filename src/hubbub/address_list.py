"""Lists of networks (``CIDR[,CIDR]``) and whether an address is in one: pure.

Used by ``--metrics-allow``: which client addresses may read ``/metrics``.
"""

from __future__ import annotations

import ipaddress

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# Loopback only: a scraper on the machine itself (or a proxy there, which is why the
# shipped nginx site closes /metrics itself).
LOOPBACK = ("127.0.0.0/8", "::1/128")


def parse_cidr_list(text: str) -> tuple[str, ...]:
    """``CIDR[,CIDR]`` (a bare address is one host) as normalised strings; ``none`` is the
    empty list. ValueError naming the entry that is not a network."""
    if text.strip().lower() == "none":
        return ()
    networks = []
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        try:
            networks.append(str(ipaddress.ip_network(entry, strict=False)))
        except ValueError:
            raise ValueError(f"{entry!r} is not an address or network (CIDR)") from None
    if not networks:
        raise ValueError("give CIDR[,CIDR], or none")
    return tuple(networks)


def networks_of(entries: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def contains(networks: tuple[Network, ...], address: str | None) -> bool:
    """Whether ``address`` is in one of ``networks``; an IPv4 client seen on an IPv6
    socket (``::ffff:a.b.c.d``) counts as its IPv4 address; anything that is not an IP
    address (a Unix socket, an unknown peer) is in none."""
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in network for network in networks)
