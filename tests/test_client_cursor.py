"""The client's pure parts: the cursor rules, the SSE decoder, backoff, wire parsing."""

from __future__ import annotations

import random

import pytest

from hubbub.client import Backoff, Gap, Message, Page, ProtocolViolation
from hubbub.client.cursor import Cursor
from hubbub.client.events import parse_message, parse_page
from hubbub.client.sse import ServerEvent, SSEDecoder


def msg(id: int, text: str = "t") -> Message:
    return Message(id=id, room="r", user="u", text=text, ts=1)


def page(ids: list[int], first_id: int, last_id: int, epoch: str | None = None) -> Page:
    return Page(tuple(msg(i) for i in ids), first_id, last_id, epoch)


# Cursor


def test_messages_in_order_move_the_cursor() -> None:
    """Each next id is delivered and becomes the cursor."""
    cursor = Cursor(0)
    assert cursor.message(msg(1)) == [msg(1)]
    assert cursor.message(msg(2)) == [msg(2)]
    assert cursor.position == 2


def test_ids_at_or_below_the_cursor_are_dropped() -> None:
    """A replay after a reconnect never reaches the caller twice."""
    cursor = Cursor(5)
    assert cursor.message(msg(5)) == []
    assert cursor.message(msg(3)) == []
    assert cursor.position == 5


def test_an_unannounced_jump_is_a_gap() -> None:
    """Ids that skip ahead without a gap notice are still reported, not hidden."""
    cursor = Cursor(2)
    assert cursor.message(msg(5)) == [Gap(2, 5, 5), msg(5)]
    assert Gap(2, 5, 5).missed == range(3, 5)


def test_unknown_cursor_takes_the_first_message() -> None:
    """A cursor not yet known accepts whatever comes first."""
    cursor = Cursor()
    assert cursor.message(msg(9)) == [msg(9)]
    assert cursor.position == 9


def test_retention_gap_moves_the_cursor_to_first_id() -> None:
    """A cursor older than what the room keeps: the gap names the lost ids."""
    cursor = Cursor(1)
    gap = cursor.bounds(4, 6)
    assert gap == Gap(1, 4, 6)
    assert (gap.reset, gap.missed) == (False, range(2, 4))
    assert cursor.position == 3


def test_cursor_beyond_last_id_is_a_reset() -> None:
    """A cursor past the newest id: the room was reset; ids start again at first_id."""
    cursor = Cursor(7)
    gap = cursor.bounds(1, 2)
    assert gap is not None and gap.reset and gap.missed == range(3, 8)
    assert cursor.position == 0
    assert cursor.message(msg(1)) == [msg(1)]


def test_reset_to_an_empty_room() -> None:
    """A room reset to nothing puts the cursor at 0."""
    cursor = Cursor(3)
    assert cursor.bounds(0, 0) == Gap(3, 0, 0)
    assert cursor.position == 0


def test_bounds_that_cover_the_cursor_are_no_gap() -> None:
    """A gap notice the cursor is not concerned by changes nothing."""
    cursor = Cursor(4)
    assert cursor.bounds(3, 9) is None
    assert cursor.bounds(5, 9) is None  # first_id - 1 == cursor: nothing lost
    assert cursor.position == 4


def test_poll_page_with_a_gap() -> None:
    """A poll answer whose bounds show lost ids: the gap first, then the messages."""
    cursor = Cursor(1)
    assert cursor.page(page([4, 5], 4, 5)) == [Gap(1, 4, 5), msg(4), msg(5)]


def test_poll_page_after_a_reset() -> None:
    """since > last_id in a poll answer is a reset, then the room from its start."""
    cursor = Cursor(10)
    events = cursor.page(page([1, 2], 1, 2))
    assert events == [Gap(10, 1, 2), msg(1), msg(2)]
    assert cursor.position == 2


def test_poll_page_continuing_the_cursor_is_no_gap() -> None:
    """An answer that starts right after the cursor lost nothing, whatever first_id says."""
    cursor = Cursor(3)
    assert cursor.page(page([4, 5], 5, 7)) == [msg(4), msg(5)]


def test_empty_poll_page_is_nothing() -> None:
    """Nothing new and nothing lost: no event."""
    assert Cursor(3).page(page([], 1, 3)) == []
    assert Cursor(0).page(page([], 0, 0)) == []


# Epochs


def test_query_sends_the_epoch_once_known() -> None:
    """since alone for a plain cursor; since and epoch once a server named the epoch."""
    cursor = Cursor(4)
    assert cursor.query() == {"since": 4}
    assert cursor.bounds(1, 9, "e1") is None
    assert cursor.query() == {"since": 4, "epoch": "e1"}


def test_another_epoch_is_a_reset_even_when_the_new_log_is_longer() -> None:
    """The issue's case: cursor 10 of epoch a, new log b with ids 1..20: a reset gap."""
    cursor = Cursor(10, "a")
    gap = cursor.bounds(1, 20, "b")
    assert gap == Gap(10, 1, 20, reset=True, epoch="b")
    assert (cursor.position, cursor.epoch) == (0, "b")
    assert gap.missed == range(0)  # the ids seen now name other messages; none to count


def test_same_epoch_is_no_reset() -> None:
    """Bounds of the cursor's own epoch that cover it change nothing."""
    cursor = Cursor(10, "a")
    assert cursor.bounds(1, 20, "a") is None
    assert (cursor.position, cursor.epoch) == (10, "a")


def test_another_epoch_with_nothing_seen_is_no_gap() -> None:
    """Cursor 0 lost nothing, whatever the epoch: the new one is simply learnt."""
    cursor = Cursor(0, "a")
    assert cursor.bounds(1, 5, "b") is None
    assert (cursor.position, cursor.epoch) == (0, "b")


def test_plain_cursor_keeps_the_epochless_rules_and_learns_the_epoch() -> None:
    """Without an epoch only bounds tell a reset (cursor past last_id); the epoch is kept."""
    cursor = Cursor(10)
    assert cursor.bounds(1, 20, "b") is None  # cannot be told apart from a room that went on
    assert cursor.epoch == "b"
    cursor = Cursor(30)
    assert cursor.bounds(1, 20, "b") == Gap(30, 1, 20, reset=True, epoch="b")


def test_poll_answer_in_another_epoch_is_a_reset_then_the_new_log() -> None:
    """A poll answered in another epoch than the one sent: a reset gap, then every message."""
    cursor = Cursor(10, "a")
    events = cursor.page(page(list(range(1, 21)), 1, 20, "b"))
    assert events[0] == Gap(10, 1, 20, reset=True, epoch="b")
    assert events[1:] == [msg(i) for i in range(1, 21)]
    assert (cursor.position, cursor.epoch) == (20, "b")


def test_poll_answer_in_another_epoch_that_looks_continuous_is_still_a_reset() -> None:
    """An answer of a new log that happens to start at cursor + 1 is not taken as more."""
    cursor = Cursor(10, "a")
    events = cursor.page(page([11, 12], 11, 12, "b"))
    assert events == [Gap(10, 11, 12, reset=True, epoch="b"), msg(11), msg(12)]


def test_poll_answer_in_the_same_epoch_learns_nothing_new() -> None:
    """An answer of the cursor's epoch continuing it: just its messages."""
    cursor = Cursor(3, "a")
    assert cursor.page(page([4], 1, 4, "a")) == [msg(4)]
    assert (cursor.position, cursor.epoch) == (4, "a")


def test_gap_past_last_id_is_always_a_reset() -> None:
    """A Gap whose cursor is beyond last_id says reset, however it was made."""
    assert Gap(9, 0, 0).reset and Gap(9, 0, 0) == Gap(9, 0, 0, reset=True)
    assert not Gap(1, 4, 6).reset


def test_negative_cursor_refused() -> None:
    """A cursor is a whole number >= 0."""
    with pytest.raises(ValueError, match="cursor"):
        Cursor(-1)


# SSE decoder


def test_sse_events_and_comments() -> None:
    """Events dispatch on a blank line; comments and retry produce no event."""
    decoder = SSEDecoder()
    stream = b'retry: 3000\n\n: ping\n\nid: 1\nevent: message\ndata: {"a":1}\n\n'
    assert decoder.feed(stream) == [ServerEvent("message", '{"a":1}', "1")]
    assert decoder.retry == 3000


def test_sse_split_anywhere() -> None:
    """An event cut into one-byte chunks, even inside a UTF-8 character, decodes the same."""
    decoder = SSEDecoder()
    data = "id: 2\nevent: gap\ndata: héllo\n\n".encode()
    events = [event for i in range(len(data)) for event in decoder.feed(data[i : i + 1])]
    assert events == [ServerEvent("gap", "héllo", "2")]


def test_sse_line_endings_and_multiline_data() -> None:
    """CRLF, CR and LF all end lines (also a CRLF split across chunks); data lines join."""
    decoder = SSEDecoder()
    events = decoder.feed(b"data: a\r\ndata:b\rdata: c\r")
    events += decoder.feed(b"\n\r\n")
    assert events == [ServerEvent("message", "a\nb\nc", None)]


def test_sse_bom_nul_id_and_fieldless_lines() -> None:
    """A leading BOM is dropped, an id with NUL ignored, a bare field name is an empty value."""
    decoder = SSEDecoder()
    events = decoder.feed(b"\xef\xbb\xbfid: 7\n\ndata\nid: x\x00y\n\n")
    assert events == [ServerEvent("message", "", "7")]


def test_sse_event_without_data_is_not_dispatched() -> None:
    """An event name with no data lines dispatches nothing."""
    assert SSEDecoder().feed(b"event: gap\n\n") == []


# Backoff


def test_backoff_grows_to_its_cap_with_jitter() -> None:
    """Delays double up to the maximum; jitter only ever shortens them, by up to half."""
    backoff = Backoff(initial=1.0, maximum=8.0)
    rng = random.Random(7)
    for attempt, ceiling in enumerate([1, 2, 4, 8, 8, 8]):
        delay = backoff.delay(attempt, rng)
        assert ceiling / 2 <= delay <= ceiling
    assert backoff.delay(10_000, rng) <= 8.0  # no overflow far out


def test_backoff_refuses_nonsense() -> None:
    """A backoff that could never wait, or shrinks, is refused."""
    with pytest.raises(ValueError, match="initial"):
        Backoff(initial=0)
    with pytest.raises(ValueError, match="factor"):
        Backoff(factor=0.5)


# Wire parsing


def test_parse_message_with_and_without_client_id() -> None:
    """The wire object becomes a Message; client_id only when present."""
    body = {"id": 1, "room": "r", "user": "u", "text": "t", "ts": 5}
    assert parse_message(body) == Message(1, "r", "u", "t", 5)
    assert parse_message({**body, "client_id": "c"}).client_id == "c"


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"id": "1", "room": "r", "user": "u", "text": "t", "ts": 5},
        {"id": True, "room": "r", "user": "u", "text": "t", "ts": 5},
        {"id": 1, "room": "r", "user": "u", "ts": 5},
        {"id": 1, "room": "r", "user": "u", "text": "t", "ts": 5, "client_id": 3},
    ],
)
def test_parse_message_refuses_malformed(body: object) -> None:
    """A message object with a missing or mistyped field is a protocol violation."""
    with pytest.raises(ProtocolViolation):
        parse_message(body)


def test_parse_page() -> None:
    """A poll answer becomes a Page; one without a messages list is refused."""
    body = {"messages": [{"id": 2, "room": "r", "user": "u", "text": "t", "ts": 5}]}
    assert parse_page({**body, "first_id": 1, "last_id": 2}).messages[0].id == 2
    with pytest.raises(ProtocolViolation):
        parse_page({"first_id": 1, "last_id": 2})


def test_parse_page_epoch() -> None:
    """A poll answer's epoch is kept; none is None; a malformed one is refused."""
    body = {"messages": [], "first_id": 0, "last_id": 0}
    assert parse_page({**body, "epoch": "k3j9x2a1"}).epoch == "k3j9x2a1"
    assert parse_page(body).epoch is None
    for bad in (7, "", "a:b"):
        with pytest.raises(ProtocolViolation, match="epoch"):
            parse_page({**body, "epoch": bad})


# The public API


def test_public_api_is_complete() -> None:
    """hubbub and hubbub.client export what they list, and hubbub re-exports the client."""
    import hubbub
    import hubbub.client

    for module in (hubbub, hubbub.client):
        assert all(hasattr(module, name) for name in module.__all__)
    assert {"Client", "Gap", "Message", "Connected", "Disconnected", "Refused"} <= set(
        hubbub.__all__
    )
    assert hubbub.Client is hubbub.client.Client
