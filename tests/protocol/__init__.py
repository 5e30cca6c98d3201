"""Pure unit tests of ``hubbub.protocol``: no server, no socket, no clock.

Each rule is pinned from both sides (the limit accepted, one past it refused) so that
the mutation run (docs/testing.md) finds no off-by-one that still passes.
"""
