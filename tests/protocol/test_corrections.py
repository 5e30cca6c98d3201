"""Edits and deletes without a server (``hubbub.protocol.corrections``): who may
correct what, and how ``?view=latest`` shows a page of the log."""

from __future__ import annotations

import orjson
import pytest

from hubbub.errors import Forbidden, InvalidMessage
from hubbub.protocol.corrections import Latest, check_correction, latest_states, latest_view
from hubbub.protocol.messages import DELETE, EDIT, Message, Publish

ORIGINAL = Message(4, "r", "alice", "hello", 100)


def _edit(id_: int, target: int, text: str, ts: int, user: str = "alice") -> Message:
    return Message(id_, "r", user, text, ts, kind=EDIT, target=target)


def _delete(id_: int, target: int, ts: int = 0) -> Message:
    return Message(id_, "r", "alice", "", ts, kind=DELETE, target=target)


def test_the_author_may_correct_a_message() -> None:
    check_correction(Publish("r", "alice", "new", kind=EDIT, target=4), ORIGINAL)
    check_correction(Publish("r", "alice", "", kind=DELETE, target=4), ORIGINAL)


@pytest.mark.parametrize(
    ("publish", "target", "message"),
    [
        (
            Publish("r", "alice", "new", kind=EDIT, target=4),
            None,
            "target 4 is not a message this room keeps",
        ),
        (
            Publish("r", "alice", "new", kind=EDIT, target=5),
            ORIGINAL,
            "target 5 is not a message this room keeps",
        ),
        (
            Publish("r", "alice", "new", kind=EDIT, target=6),
            _edit(6, 4, "x", 1),
            "target 6 is a correction (edit), not a message",
        ),
        (
            Publish("r", "alice", "", kind=DELETE, target=7),
            _delete(7, 4),
            "target 7 is a correction (delete), not a message",
        ),
    ],
)
def test_only_messages_the_room_keeps_are_corrected(
    publish: Publish, target: Message | None, message: str
) -> None:
    with pytest.raises(InvalidMessage) as caught:
        check_correction(publish, target)
    assert caught.value.message == message


def test_only_the_author_may_correct() -> None:
    words = {
        EDIT: "only the author of a message may edit it",
        DELETE: "only the author of a message or a moderator of the room may delete it",
    }
    for kind in (EDIT, DELETE):
        with pytest.raises(Forbidden) as caught:
            check_correction(Publish("r", "bob", "x", kind=kind, target=4), ORIGINAL)
        assert caught.value.message == words[kind]


def test_a_moderator_may_delete_but_not_edit_anothers_message() -> None:
    deleted = Publish("r", "mod", "", kind=DELETE, target=4)
    assert check_correction(deleted, ORIGINAL, moderating=True) is ORIGINAL
    with pytest.raises(Forbidden, match="may edit it"):
        check_correction(Publish("r", "mod", "x", kind=EDIT, target=4), ORIGINAL, moderating=True)


def test_latest_starts_untouched() -> None:
    state = Latest()
    assert (state.text, state.edited_ts, state.deleted) == (None, None, False)


def test_latest_edits_then_delete_is_final() -> None:
    state = Latest()
    state.apply(_edit(5, 4, "one", 200))
    assert (state.text, state.edited_ts, state.deleted) == ("one", 200, False)
    state.apply(_edit(6, 4, "two", 300))
    assert (state.text, state.edited_ts, state.deleted) == ("two", 300, False)
    state.apply(_delete(7, 4, 400))
    assert (state.text, state.edited_ts, state.deleted) == ("two", 300, True)
    state.apply(_edit(8, 4, "three", 500))  # committed after the delete: changes nothing
    assert (state.text, state.edited_ts, state.deleted) == ("two", 300, True)


def test_latest_ignores_a_plain_message() -> None:
    state = Latest()
    state.apply(ORIGINAL)
    assert (state.text, state.edited_ts, state.deleted) == (None, None, False)


def test_latest_states_fold_per_target() -> None:
    log = [
        ORIGINAL,
        Message(5, "r", "bob", "other", 110),
        _edit(6, 4, "hello!", 120),
        _edit(7, 5, "other!", 130, user="bob"),
        _delete(8, 5, 140),
        _edit(9, 4, "hello!!", 150),
        # A correction without a target is never stored; it is skipped, not a crash.
        Message(10, "r", "alice", "x", 160, kind=EDIT, target=None),
    ]
    states = latest_states(log)
    assert sorted(states) == [4, 5]
    assert (states[4].text, states[4].edited_ts, states[4].deleted) == ("hello!!", 150, False)
    assert (states[5].text, states[5].edited_ts, states[5].deleted) == ("other!", 130, True)
    assert latest_states([]) == {}
    assert latest_states([ORIGINAL, Message(5, "r", "a", "t", 1, target=4)]) == {}


def test_latest_view_of_a_page() -> None:
    """Edited: newest text, ``edited``, ``edited_ts``; deleted: ``text: ""`` and
    ``deleted``; corrections stay in the page as they are."""
    page = [
        ORIGINAL,
        Message(5, "r", "bob", "other", 110, "c"),
        Message(6, "r", "carol", "untouched", 115),
        _edit(7, 4, "hello!", 120),
        _delete(8, 5, 140),
    ]
    view = latest_view(page, latest_states(page))
    assert orjson.dumps(view) == (
        b"["
        b'{"id":4,"room":"r","user":"alice","text":"hello!","ts":100,'
        b'"edited":true,"edited_ts":120},'
        b'{"id":5,"room":"r","user":"bob","text":"","ts":110,"client_id":"c","deleted":true},'
        b'{"id":6,"room":"r","user":"carol","text":"untouched","ts":115},'
        b'{"id":7,"room":"r","user":"alice","text":"hello!","ts":120,"kind":"edit","target":4},'
        b'{"id":8,"room":"r","user":"alice","text":"","ts":140,"kind":"delete","target":5}'
        b"]"
    )


def test_latest_view_applies_only_to_messages() -> None:
    """A state keyed by a correction's own id (corrections are never targets) is not
    applied to that correction."""
    edit = _edit(7, 4, "hello!", 120)
    deleted = Latest()
    deleted.deleted = True
    assert latest_view([edit], {7: deleted}) == [edit.to_dict()]


def test_latest_view_of_an_edit_then_delete() -> None:
    page = [ORIGINAL, _edit(5, 4, "x", 120), _delete(6, 4, 130)]
    view = latest_view(page, latest_states(page))
    assert view[0] == {
        "id": 4,
        "room": "r",
        "user": "alice",
        "text": "",
        "ts": 100,
        "deleted": True,
    }


def test_latest_view_state_without_text_changes_nothing() -> None:
    """A state that holds neither an edit nor a delete leaves the message as it was."""
    assert latest_view([ORIGINAL], {4: Latest()}) == [ORIGINAL.to_dict()]
    assert latest_view([ORIGINAL], {}) == [ORIGINAL.to_dict()]
