"""Who may read and write which room: the one place access is decided.

Every entry point of the node passes its :class:`~hubbub.principal.Principal`
through here. With access control off (no ``--auth-secret`` or
``--auth-public-key``) every principal is anonymous and may read and write
every room, under any user name, as the protocol has always allowed.
"""

from __future__ import annotations

from hubbub.principal import Principal
from hubbub.protocol.messages import Publish
from hubbub.settings import Settings


class Access:
    """Authentication of a request's token and the checks on each room it uses."""

    def __init__(self, settings: Settings) -> None:
        self.enabled = False

    def principal(self, token: str | None, address: str) -> Principal:
        """Who sent a request: its token's subject, or anonymous from ``address``."""
        return Principal(address=address)

    def check_read(self, principal: Principal, room: str) -> None:
        """Raise ``Forbidden`` unless ``principal`` may read ``room``."""

    def check_write(self, principal: Principal, room: str) -> None:
        """Raise ``Forbidden`` unless ``principal`` may publish to ``room``."""

    def stamp(self, principal: Principal, publish: Publish) -> Publish:
        """The publish as stored: with access control on, ``user`` is the token's."""
        return publish
