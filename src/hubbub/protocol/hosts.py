"""Which names a server without tokens answers to: the defence against DNS rebinding.

A page on ``rebind.example`` whose name the attacker points at 127.0.0.1 becomes, for the
browser, a page of the server's own origin: its requests carry ``Host: rebind.example``
and an ``Origin`` to match, so the ``Origin`` check cannot tell it from the chat page. A
server with no tokens therefore answers only requests naming it by a host it is known
by: an IP address (a rebinding needs a name the attacker controls), ``localhost`` (and
names under ``.localhost``, which browsers resolve to loopback themselves), its
``--host``, the names of ``--public-host`` and the hosts of ``--allow-origin``. With
tokens on, a rebound page has no token to send, and every name is answered. Pure.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit


def host_name(authority: str) -> str:
    """The host of a ``Host`` header, lower-cased, without port, brackets or final dot."""
    authority = authority.strip().lower()
    if authority.startswith("["):
        return authority[1 : authority.find("]")] if "]" in authority else authority
    if authority.count(":") == 1:
        authority = authority.partition(":")[0]
    return authority.rstrip(".")


def is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def known_hosts(
    listen_host: str, public_hosts: tuple[str, ...], allow_origin: str | None
) -> frozenset[str]:
    """The names besides addresses and ``localhost`` that requests may give as ``Host``."""
    names = {host_name(listen_host)} if listen_host else set()
    names.update(host_name(name) for name in public_hosts if name.strip())
    if allow_origin:
        for origin in allow_origin.split(","):
            found = urlsplit(origin.strip()).hostname
            if found:
                names.add(found.rstrip("."))
    return frozenset(names)


def host_known(host: str | None, known: frozenset[str]) -> bool:
    """Whether a request naming ``host`` (its ``Host`` header) is for this server. A
    request with none is not from a browser (they always send it) and passes."""
    if not host:
        return True
    name = host_name(host)
    return name in known or name == "localhost" or name.endswith(".localhost") or is_address(name)
