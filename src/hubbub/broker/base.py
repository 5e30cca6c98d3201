"""The ``Broker`` seam between commit and fan-out.

After a commit, a node applies its own messages to its hub at once and hands
them to the broker, which carries them to the other nodes. A node subscribes
only to rooms it has listeners for. The receiving hub is a per-room sequencer
(hub/sequencer.py): it applies only ``last_id + 1``, drops what it already has,
and fills a hole from the store, so a broker may lose, repeat or reorder
messages without a subscriber ever missing or doubling one; it costs a store
read, nothing more.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from hubbub.protocol.messages import Message

# deliver(room, epoch, messages): called on the event loop, in the order the broker
# received them; never awaits. Messages are in id order within one call.
Deliver = Callable[[str, str, Sequence[Message]], None]
# on_resync(): the broker lost its connection and is back. Messages may have been
# missed in between in every subscribed room, so the node checks each against the store.
Resync = Callable[[], None]


class Broker(Protocol):
    """What the node needs to share rooms with other nodes."""

    async def start(self, deliver: Deliver, on_resync: Resync) -> None:
        """Connect; from now on ``deliver`` is called for subscribed rooms."""

    async def close(self) -> None:
        """Stop delivering and release connections."""

    async def subscribe(self, room: str) -> None:
        """Return once every message published after this returns will be delivered."""

    def subscribe_now(self, room: str) -> bool:
        """Subscribe in this step if that needs no wait: True, as if :meth:`subscribe`
        had returned; False, nothing done (then await :meth:`subscribe`). A room's load
        then needs no task (``Hub.load``: a reconnect storm loads thousands)."""

    async def unsubscribe(self, room: str) -> None:
        """Stop delivering ``room`` (nobody on this node listens to it any more)."""

    def publish(self, room: str, epoch: str, messages: Sequence[Message]) -> None:
        """Carry committed messages to the other nodes; never blocks, never raises.

        A lost publish costs the receivers a store read when they notice the
        hole, so a broken connection is logged, not raised to the publisher,
        whose message is already durable.
        """

    def healthy(self) -> bool:
        """False while the broker cannot carry messages (``/healthz`` says 503)."""
