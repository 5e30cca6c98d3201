"""The classic Node.js chat tutorials' dialect, served on the lobby room.

docs/protocol.md, *The tutorial dialect*; docs/compat.md says what each tutorial's
client needs and what was decided where the table is silent.
"""

from hubbub.compat.routes import add_compat_routes

__all__ = ["add_compat_routes"]
