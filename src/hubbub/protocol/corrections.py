"""Edits and deletes: log entries that correct an earlier message, and the latest view.

A correction is appended to the room's log like any message (it takes the next
id), so cursors, gaps and resumes stay what they were. Pure functions: who may
correct what, and how a page of the log looks with its corrections applied
(``?view=latest``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from hubbub.errors import Forbidden, InvalidMessage
from hubbub.protocol.messages import DELETE, EDIT, MESSAGE, Message, Publish


def check_correction(
    publish: Publish, target: Message | None, *, moderating: bool = False
) -> Message:
    """Refuse an edit or delete of something that is not its author's message, unless it
    is a delete by a moderator of the room (``moderating``); returns the target.

    ``publish`` is already stamped (with access control on, its ``user`` is the
    principal's), so comparing user names is the author check in both modes. A
    moderator's delete of someone else's message is stored under the moderator's name:
    the entry names who removed it.
    """
    if target is None or target.id != publish.target:
        raise InvalidMessage(f"target {publish.target} is not a message this room keeps")
    if target.kind != MESSAGE:
        raise InvalidMessage(f"target {target.id} is a correction ({target.kind}), not a message")
    if target.user != publish.user and not (moderating and publish.kind == DELETE):
        if publish.kind == DELETE:
            raise Forbidden("only the author of a message or a moderator of the room may delete it")
        raise Forbidden("only the author of a message may edit it")
    return target


class Latest:
    """Where a message stands after its corrections: current text, edited, deleted."""

    __slots__ = ("deleted", "edited_ts", "text")

    def __init__(self) -> None:
        self.text: str | None = None
        self.edited_ts: int | None = None
        self.deleted = False

    def apply(self, correction: Message) -> None:
        # A delete is final: an edit that was committed after it changes nothing.
        if self.deleted:
            return
        if correction.kind == DELETE:
            self.deleted = True
        elif correction.kind == EDIT:
            self.text = correction.text
            self.edited_ts = correction.ts


def latest_states(corrections: Iterable[Message]) -> dict[int, Latest]:
    """Corrections in log order, folded per target."""
    states: dict[int, Latest] = {}
    for correction in corrections:
        if correction.kind == MESSAGE or correction.target is None:
            continue
        state = states.get(correction.target)
        if state is None:
            state = states[correction.target] = Latest()
        state.apply(correction)
    return states


def latest_view(messages: Sequence[Message], states: dict[int, Latest]) -> list[dict[str, Any]]:
    """The wire objects of ``messages`` with their corrections applied.

    An edited message shows its newest text with ``edited: true`` and ``edited_ts``; a
    deleted one shows ``text: ""`` and ``deleted: true``. The corrections themselves stay
    in the list (their ids are part of the cursor); applying them again changes nothing.
    """
    view = []
    for message in messages:
        body = message.to_dict()
        state = states.get(message.id) if message.kind == MESSAGE else None
        if state is not None:
            if state.deleted:
                body["text"] = ""
                body["deleted"] = True
            elif state.text is not None:
                body["text"] = state.text
                body["edited"] = True
                body["edited_ts"] = state.edited_ts
        view.append(body)
    return view
