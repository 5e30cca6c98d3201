"""The one cursor logic that every transport shares, free of I/O.

A subscription remembers the id of the last message it delivered: its cursor.
Whatever the transport and however often it reconnects, it asks for ``since=cursor``
and passes what comes back through a :class:`Cursor`, which

- drops any id at or below the cursor (a replay after a reconnect, or a
  transport that repeats itself: never a duplicate for the caller);
- turns what the protocol says about missing ids into a :class:`Gap`, whether it
  comes as a stream's ``gap`` event or as a poll's ``first_id``/``last_id``, and
  moves the cursor to where the room now starts;
- reports a jump in ids that the server did not announce, rather than hide it.
"""

from __future__ import annotations

from hubbub.client.events import Event, Gap, Page
from hubbub.protocol.messages import Message


class Cursor:
    """Where a subscription stands: ``position`` is the last id delivered."""

    __slots__ = ("position",)

    def __init__(self, position: int | None = None) -> None:
        if position is not None and position < 0:
            raise ValueError("a cursor is a whole number >= 0")
        # None until known: a subscription "from now" first asks the room where it ends.
        self.position = position

    def message(self, message: Message) -> list[Event]:
        """Deliver ``message`` if it is the next one; a jump is reported as a gap first."""
        position = self.position
        if position is None:
            self.position = message.id
            return [message]
        if message.id <= position:
            return []  # seen already
        events: list[Event] = []
        if message.id > position + 1:
            # The protocol promises no silent skips; if ids jump anyway, say so.
            events.append(Gap(position, message.id, message.id))
        self.position = message.id
        events.append(message)
        return events

    def bounds(self, first_id: int, last_id: int) -> Gap | None:
        """Compare the cursor with what the room keeps; a gap moves the cursor.

        A cursor beyond ``last_id`` means the room was reset: its ids start again
        from ``first_id``. A cursor below ``first_id - 1`` means retention removed
        messages the subscriber never saw.
        """
        position = self.position or 0
        if position > last_id:
            self.position = max(first_id - 1, 0)
            return Gap(position, first_id, last_id)
        if position + 1 < first_id:
            self.position = first_id - 1
            return Gap(position, first_id, last_id)
        return None

    def page(self, page: Page) -> list[Event]:
        """A poll answer to ``since=position``: a gap if its bounds say so, then its messages."""
        events: list[Event] = []
        messages = page.messages
        # An answer that starts right after the cursor has lost nothing, even if
        # retention moved first_id on between the read and the bounds.
        continuous = bool(messages) and messages[0].id == (self.position or 0) + 1
        if not continuous:
            gap = self.bounds(page.first_id, page.last_id)
            if gap is not None:
                events.append(gap)
        for message in messages:
            events.extend(self.message(message))
        return events
