"""Sub-commands of ``hubbub``; each module has ``register(subparsers)``.

A registered parser sets ``run``: a function from the parsed arguments to an exit status.
Modules are imported when their command is asked for: ``hubbub serve`` loads none of the
clients' modules (the HTTP client library among them).
"""

from __future__ import annotations

import importlib
from types import ModuleType

# Each command name, and the module that registers it.
MODULE_OF = {
    "serve": "serve",
    "chat": "chat",
    "send": "send",
    "tail": "tail",
    "search": "search",
    "token": "token",
    "backup": "backup",
    "restore": "backup",
}


def command_modules(names: list[str] | None = None) -> list[ModuleType]:
    """The modules that register ``names`` (every command's without), each once."""
    wanted = MODULE_OF.values() if names is None else [MODULE_OF[n] for n in names]
    return [importlib.import_module(f"hubbub.commands.{m}") for m in dict.fromkeys(wanted)]
