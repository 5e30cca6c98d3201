"""Who may use the admin routes: one pure rule, shared by every admin route.

With access control on, a token whose ``admin`` claim is ``true``. On a server with no
tokens there is nobody to trust but the machine itself: only loopback peers
(127.0.0.0/8, ::1, and 127.0.0.0/8 written as an IPv4-mapped IPv6 address). A request
that fails the rule is answered ``403`` (a missing or refused token is ``401`` before it
gets here).
"""

from __future__ import annotations

import ipaddress

from hubbub.principal import Principal


def is_loopback_address(address: str) -> bool:
    """Whether a peer address is this machine's loopback (never true for ``unknown``)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def admin_allowed(principal: Principal, peer_address: str, tokens_required: bool) -> bool:
    """Whether a request may use the admin routes: the token's ``admin`` claim with access
    control on, a loopback peer without it."""
    if tokens_required:
        return principal.admin
    return is_loopback_address(peer_address)
