"""The one cursor logic that every transport shares, free of I/O.

A subscription remembers the id of the last message it delivered and the epoch
of the log that id belongs to: its cursor. Whatever the transport and however
often it reconnects, it asks for ``since=position&epoch=epoch`` and passes what
comes back through a :class:`Cursor`, which

- drops any id at or below the cursor (a replay after a reconnect, or a
  transport that repeats itself: never a duplicate for the caller);
- learns the epoch from every ``ready``, ``gap`` and poll answer, and takes an
  answer in another epoch than the cursor's (with something seen, position > 0)
  for what it is: the room's log started over, a reset, reported as a
  :class:`Gap` before the messages of the new log;
- turns what the protocol says about missing ids into a :class:`Gap`, whether it
  comes as a stream's ``gap`` event or as a poll's ``first_id``/``last_id``, and
  moves the cursor to where the room now starts;
- reports a jump in ids that the server did not announce, rather than hide it.
"""

from __future__ import annotations

from hubbub.client.events import Event, Gap, Page
from hubbub.protocol.messages import Message


class Cursor:
    """Where a subscription stands: ``position`` is the last id delivered, in ``epoch``."""

    __slots__ = ("epoch", "position")

    def __init__(self, position: int | None = None, epoch: str | None = None) -> None:
        if position is not None and position < 0:
            raise ValueError("a cursor is a whole number >= 0")
        # None until known: a subscription "from now" first asks the room where it ends.
        self.position = position
        # None until the server names it: a plain cursor keeps the epoch-less rules.
        self.epoch = epoch

    def query(self) -> dict[str, str | int | float]:
        """``since`` and, once known, ``epoch``: what every transport sends."""
        assert self.position is not None, "a connection always starts from a known cursor"
        params: dict[str, str | int | float] = {"since": self.position}
        if self.epoch is not None:
            params["epoch"] = self.epoch
        return params

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
            events.append(Gap(position, message.id, message.id, epoch=self.epoch))
        self.position = message.id
        events.append(message)
        return events

    def _reset_by(self, epoch: str | None) -> bool:
        """Whether ``epoch`` names another log than the one the cursor saw something of."""
        return (
            epoch is not None
            and self.epoch is not None
            and epoch != self.epoch
            and (self.position or 0) > 0
        )

    def bounds(self, first_id: int, last_id: int, epoch: str | None = None) -> Gap | None:
        """Compare the cursor with what the room keeps; a gap moves the cursor.

        ``epoch`` is the epoch of the log ``first_id..last_id`` belong to (None if
        the server named none). Another epoch than the cursor's, or a cursor
        beyond ``last_id``, means the room was reset: its ids start again from
        ``first_id``. A cursor below ``first_id - 1`` means retention removed
        messages the subscriber never saw.
        """
        position = self.position or 0
        reset = self._reset_by(epoch)
        if epoch is not None:
            self.epoch = epoch
        if reset or position > last_id:
            self.position = max(first_id - 1, 0)
            return Gap(position, first_id, last_id, reset=True, epoch=self.epoch)
        if position + 1 < first_id:
            self.position = first_id - 1
            return Gap(position, first_id, last_id, epoch=self.epoch)
        return None

    def page(self, page: Page) -> list[Event]:
        """A poll answer to ``since=position``: a gap if its bounds or epoch say so, then
        its messages."""
        events: list[Event] = []
        messages = page.messages
        # An answer of the same log that starts right after the cursor has lost
        # nothing, even if retention moved first_id on between the read and the bounds.
        continuous = (
            bool(messages)
            and messages[0].id == (self.position or 0) + 1
            and not self._reset_by(page.epoch)
        )
        if continuous:
            if page.epoch is not None:
                self.epoch = page.epoch
        else:
            gap = self.bounds(page.first_id, page.last_id, page.epoch)
            if gap is not None:
                events.append(gap)
        for message in messages:
            events.extend(self.message(message))
        return events
