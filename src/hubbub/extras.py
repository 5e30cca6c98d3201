"""Optional dependencies: a missing extra is one line that says what to install."""

from __future__ import annotations

import importlib.util

from hubbub.errors import HubbubError


class MissingExtra(HubbubError):
    """The settings need a package of an extra that is not installed."""


def require_redis() -> None:
    """Raise :class:`MissingExtra` unless redis-py can be imported (the ``redis`` extra)."""
    if importlib.util.find_spec("redis") is None:
        raise MissingExtra(
            "--redis needs the redis client, which is not installed: pip install 'hubbub[redis]'"
        )
