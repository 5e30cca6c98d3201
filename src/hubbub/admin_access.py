"""Who may use the admin routes (the operations page's data): one pure rule.

With access control on, a token whose ``admin`` claim is ``true``. On a server with no
tokens there is nobody to tell apart, so only a peer on this machine (127.0.0.0/8, ::1):
whoever can reach the server's loopback address can already read its files.
"""

from __future__ import annotations

import ipaddress

from hubbub.principal import Principal


def is_loopback(address: str) -> bool:
    """Whether ``address`` is a loopback IP address (an IPv4-mapped one included)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False  # a Unix socket, "unknown", or a name: not known to be local
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def admin_allowed(principal: Principal, peer_address: str, tokens_required: bool) -> bool:
    """Whether ``principal``, connected from ``peer_address``, may use the admin routes."""
    if tokens_required:
        return principal.admin
    return is_loopback(peer_address)
