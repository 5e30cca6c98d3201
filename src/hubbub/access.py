"""Who may read and write which room: the one place access is decided.

Every entry point of the node passes its :class:`~hubbub.principal.Principal`
through here. With access control off (no ``--auth-secret`` or
``--auth-public-key``) every principal is anonymous and may read and write
every room, under any user name, as the protocol has always allowed. With it
on, a principal is a verified token (``auth.py``), whose ``rooms`` claim says
what it may read and write and whose ``sub`` is the ``user`` of what it publishes.
"""

from __future__ import annotations

import time
from dataclasses import replace

from hubbub.auth import Authenticator
from hubbub.errors import Forbidden, Unauthorized
from hubbub.principal import Principal
from hubbub.protocol.messages import NO_USER, Publish
from hubbub.protocol.tokens import can_read, can_write, check_publish_user
from hubbub.settings import Settings


class Access:
    """Authentication of a request's token and the checks on each room it uses."""

    def __init__(self, settings: Settings) -> None:
        # ValueError (a one-line reason) when the configured key is unusable.
        self.authenticator = Authenticator.from_settings(settings)
        self.enabled = self.authenticator.enabled

    def principal(self, token: str | None, address: str) -> Principal:
        """Who sent a request: its token's subject, or anonymous from ``address``.

        Raises ``Unauthorized`` when access control is on and the token is
        missing or refused.
        """
        return self.authenticator.authenticate(token, address)

    def readable(self, principal: Principal, room: str) -> bool:
        """Whether ``principal`` may read ``room`` (``GET /rooms`` lists only these)."""
        return can_read(principal, room)

    def check_read(self, principal: Principal, room: str) -> None:
        """Raise ``Forbidden`` unless ``principal`` may read ``room``."""
        if not can_read(principal, room):
            raise Forbidden(f"this token may not read room {room}")

    def check_write(self, principal: Principal, room: str, *, moderating: bool = False) -> None:
        """Raise ``Forbidden`` unless ``principal`` may publish to ``room``.

        A token that expired while its WebSocket was open publishes nothing more,
        even in the moment before the server closes that socket. ``moderating``: a
        moderator's delete, which needs the ``mod`` claim, not ``rooms.write``.
        """
        if principal.expires is not None and time.time() >= principal.expires:
            raise Unauthorized("token expired")
        if not moderating and not can_write(principal, room):
            raise Forbidden(f"this token may not write to room {room}")

    def stamp(self, principal: Principal, publish: Publish) -> Publish:
        """The publish as stored: with a token, ``user`` is the token's ``sub``.

        A publish that names another user is ``Forbidden``; one that names none
        (``NO_USER``, allowed only with access control on) gets the token's.
        """
        if principal.user is None and publish.user != NO_USER:
            # No token: the request's own user, validated where the publish was made
            # (validate_publish, the tutorial dialect's), as check_publish_user would.
            return publish
        requested = None if publish.user == NO_USER else publish.user
        user = check_publish_user(principal, requested)
        return publish if user == publish.user else replace(publish, user=user)
