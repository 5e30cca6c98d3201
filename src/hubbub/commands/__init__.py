"""Sub-commands of ``hubbub``; each module has ``register(subparsers)``.

A registered parser sets ``run``: a function from the parsed arguments to an exit status.
"""

from __future__ import annotations

from types import ModuleType

from hubbub.commands import backup, chat, search, send, serve, tail, token

COMMANDS: list[ModuleType] = [serve, chat, send, tail, search, token, backup]
