"""The client's address behind a reverse proxy: ``X-Forwarded-For`` and ``X-Real-IP``.

Behind a proxy every connection comes from the proxy, so per-address caps, anonymous
rate limits and logs would all see one client. The proxies named by
``--trusted-proxy`` say who their client was; anyone else could say anything, so the
headers count only on a connection *from* a trusted proxy.

``X-Forwarded-For`` is a list each proxy appends its peer to (``client, proxy1,
proxy2``). Only the right end can be believed: a client may send any list it likes,
and each trusted proxy appends the address it saw. So the list is read from the right,
skipping the trusted proxies; the first address that is not one is the client (what
nginx's ``real_ip_recursive on`` does). ``X-Real-IP`` (nginx's ``$remote_addr``, a
single address) is the fallback when there is no ``X-Forwarded-For``.

Pure: no sockets, no event loop.
"""

from __future__ import annotations

import ipaddress

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(text: str) -> tuple[Network, ...]:
    """``CIDR[,CIDR...]`` (an address alone is a network of one); ValueError naming the
    part that is neither."""
    networks: list[Network] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ValueError(
                f"{part!r} is not an address or a network (e.g. 10.0.0.0/8, ::1)"
            ) from None
    return tuple(networks)


def parse_address(text: str) -> Address | None:
    """One hop of a forwarding header: an address, perhaps with a port (``1.2.3.4:80``,
    ``[::1]:80``), or None if it is not an address (``unknown``, a name, garbage)."""
    text = text.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]  # IPv4 with a port; IPv6 has several colons
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # ::ffff:10.0.0.1 (a dual-stack socket) is 10.0.0.1
    return address


class TrustedProxies:
    """The peers whose forwarding headers are believed (none: every peer is the client)."""

    __slots__ = ("networks",)

    def __init__(self, networks: tuple[Network, ...] = ()) -> None:
        self.networks = networks

    def __bool__(self) -> bool:
        return bool(self.networks)

    def trusts(self, peer: str) -> bool:
        """Whether the connection's peer address is a trusted proxy."""
        if not self.networks:
            return False
        address = parse_address(peer)
        return address is not None and self._trusted(address)

    def _trusted(self, address: Address) -> bool:
        return any(address in network for network in self.networks)

    def client_of(self, peer: str, forwarded_for: str | None, real_ip: str | None) -> str:
        """The client's address for a request from ``peer`` carrying these headers
        (``forwarded_for``: every ``X-Forwarded-For`` value joined by commas).

        From an untrusted peer: the peer, whatever the headers say. From a trusted one:
        the right-most ``X-Forwarded-For`` hop that is not a trusted proxy; if every hop
        is trusted, the left-most; if a hop is not an address, the trusted hop to its
        right (a list that is broken there cannot be believed further). With no
        ``X-Forwarded-For``: ``X-Real-IP`` if it is an address; else the peer.
        """
        if not self.trusts(peer):
            return peer
        if forwarded_for is not None and forwarded_for.strip():
            client = parse_address(peer)
            for hop in reversed(forwarded_for.split(",")):
                address = parse_address(hop)
                if address is None:
                    break
                client = address
                if not self._trusted(address):
                    break
            return str(client)
        if real_ip is not None:
            address = parse_address(real_ip)
            if address is not None:
                return str(address)
        return peer
