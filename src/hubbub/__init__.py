"""hubbub: a real-time chat server where every room is a durable, gapless log."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
