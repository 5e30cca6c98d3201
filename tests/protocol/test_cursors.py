"""Read parameters and where a read starts (``hubbub.protocol.cursors``).

Every number parameter is pinned at its limits from both sides and against the inputs
``int()``/``float()`` would take but the protocol refuses: signs, fractions, exponents,
underscores, non-ASCII digits, blanks, and digit strings too long to convert.
"""

from __future__ import annotations

import pytest

from hubbub.errors import InvalidParameter
from hubbub.protocol.cursors import (
    DEFAULT_LIMIT,
    MAX_ID,
    MAX_LIMIT,
    MAX_WAIT,
    Bounds,
    Cursor,
    ReadQuery,
    Start,
    parse_cursor,
    parse_epoch,
    parse_id,
    parse_last_event_id,
    parse_limit,
    parse_read_query,
    parse_wait,
    stream_start,
)
from hubbub.transports.multiplex import frame_cursor

# What every whole-number parameter refuses: a sign, a fraction, an exponent, an
# underscore, digits of other scripts (Arabic-Indic, fullwidth, superscript), blanks,
# and digit strings past 19 characters (2**63 - 1 has 19), up to one int() refuses.
NOT_WHOLE = [
    "",
    " ",
    "\t",
    "x",
    "-1",
    "+1",
    "1.0",
    "1.5",
    "1e3",
    "1_0",
    "0x10",
    "\u0661\u0662",  # Arabic-Indic 12: str.isdigit() is true
    "\uff11\uff12",  # fullwidth 12
    "²",
    "1 2",
    "00000000000000000001",
    "9" * 20,
    "9" * 5000,
]

ID_MESSAGE = f"must be a whole number from 0 to {MAX_ID}"


def test_the_limits_are_the_documented_ones() -> None:
    """docs/protocol.md: limit 1..1000 (default 100), wait up to 60 s, ids up to 2**63 - 1."""
    assert (DEFAULT_LIMIT, MAX_LIMIT, MAX_WAIT, MAX_ID) == (100, 1000, 60.0, 9223372036854775807)


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("0", 0),
        ("1", 1),
        ("17", 17),
        (" 17\t", 17),
        ("007", 7),
        ("0000000000000000001", 1),  # 19 characters: the longest accepted
        (str(MAX_ID), MAX_ID),
    ],
)
def test_parse_id_accepts_plain_digits(raw: str, value: int) -> None:
    assert parse_id(raw) == value
    assert parse_last_event_id(raw) == Cursor(value)
    assert parse_last_event_id("e:" + raw.strip()) == Cursor(value, "e")


@pytest.mark.parametrize("raw", [*NOT_WHOLE, str(MAX_ID + 1)])
def test_parse_id_refuses_everything_else(raw: str) -> None:
    with pytest.raises(InvalidParameter) as caught:
        parse_id(raw)
    assert caught.value.message == "since " + ID_MESSAGE
    with pytest.raises(InvalidParameter) as caught:
        parse_id(raw, "after")
    assert caught.value.message == "after " + ID_MESSAGE


def test_parse_id_absent_is_none() -> None:
    assert parse_id(None) is None


@pytest.mark.parametrize("raw", [*NOT_WHOLE, str(MAX_ID + 1)])
def test_last_event_id_number_refuses_what_since_refuses(raw: str) -> None:
    """Both the plain ``N`` and the ``EPOCH:N`` forms name the header in the error."""
    for header in (raw, "e:" + raw):
        with pytest.raises(InvalidParameter) as caught:
            parse_last_event_id(header)
        assert caught.value.message == "Last-Event-ID " + ID_MESSAGE


@pytest.mark.parametrize(
    ("raw", "cursor"),
    [
        ("e:0", Cursor(0, "e")),
        (" ab_C-9:17 ", Cursor(17, "ab_C-9")),
        ("x" * 64 + ":3", Cursor(3, "x" * 64)),
    ],
)
def test_last_event_id_with_an_epoch(raw: str, cursor: Cursor) -> None:
    assert parse_last_event_id(raw) == cursor


EPOCH_FORM_MESSAGE = "Last-Event-ID must be N or EPOCH:N, as the server sent it"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (":1", EPOCH_FORM_MESSAGE),
        ("a b:1", EPOCH_FORM_MESSAGE),
        ("x" * 65 + ":1", EPOCH_FORM_MESSAGE),
        ("é:1", EPOCH_FORM_MESSAGE),
        # Split at the last colon: the epoch "e:1" is what is malformed, not the number.
        ("e:1:2", EPOCH_FORM_MESSAGE),
        ("e::1", EPOCH_FORM_MESSAGE),
        ("e:", "Last-Event-ID " + ID_MESSAGE),
        ("e:x", "Last-Event-ID " + ID_MESSAGE),
    ],
)
def test_last_event_id_refusals(raw: str, message: str) -> None:
    with pytest.raises(InvalidParameter) as caught:
        parse_last_event_id(raw)
    assert caught.value.message == message


@pytest.mark.parametrize("raw", ["a", "A-Z_a-z_0-9", " e1 ", "x" * 64, "-", "_"])
def test_parse_epoch_accepts(raw: str) -> None:
    assert parse_epoch(raw) == raw.strip()


@pytest.mark.parametrize("raw", ["", " ", "x" * 65, "a b", "a:b", "é", "a.b", "a\nb"])
def test_parse_epoch_refuses(raw: str) -> None:
    with pytest.raises(InvalidParameter) as caught:
        parse_epoch(raw)
    assert caught.value.message == "epoch must be 1 to 64 characters of A-Z a-z 0-9 _ -"


def test_parse_epoch_absent_is_none() -> None:
    assert parse_epoch(None) is None


def test_parse_cursor() -> None:
    assert parse_cursor({}) is None
    assert parse_cursor({"epoch": "e"}) is None  # an epoch alone means nothing
    assert parse_cursor({"since": "0"}) == Cursor(0, None)
    assert parse_cursor({"since": "4", "epoch": "e"}) == Cursor(4, "e")
    with pytest.raises(InvalidParameter):
        parse_cursor({"epoch": "a b"})  # malformed even without since


@pytest.mark.parametrize(
    ("raw", "value"), [("1", 1), (" 1000 ", 1000), ("0000000000000000500", 500)]
)
def test_parse_limit_accepts_one_to_a_thousand(raw: str, value: int) -> None:
    assert parse_limit(raw) == value


@pytest.mark.parametrize("raw", [*NOT_WHOLE, "0", "1001", str(MAX_ID)])
def test_parse_limit_refuses(raw: str) -> None:
    with pytest.raises(InvalidParameter) as caught:
        parse_limit(raw)
    assert caught.value.message == "limit must be a whole number from 1 to 1000"


def test_parse_limit_default() -> None:
    assert parse_limit(None) == 100
    assert parse_limit(None, 7) == 7


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("60", 60.0),
        ("60.0", 60.0),
        (" 30 ", 30.0),
        ("0.5", 0.5),
        ("0.001", 0.001),
        ("1", 1.0),
        ("0.5" + "0" * 29, 0.5),  # 32 characters: the longest accepted
    ],
)
def test_parse_wait_accepts(raw: str, value: float) -> None:
    assert parse_wait(raw) == value


@pytest.mark.parametrize(
    "raw",
    [
        *(raw for raw in NOT_WHOLE[:-3] if raw not in ("1.0", "1.5")),
        "0",
        "0.0",
        "60.001",
        "61",
        "-0.5",
        ".5",
        "5.",
        "nan",
        "inf",
        "Infinity",
        "6e1",
        "\u0661.\u0665",  # Arabic-Indic 1.5: float() reads it
        "0.5" + "0" * 30,  # 33 characters
        "1" * 5000,
    ],
)
def test_parse_wait_refuses(raw: str) -> None:
    """Plain ASCII decimals only: float() would read ``١٢``, ``1_0`` and ``6e1``."""
    with pytest.raises(InvalidParameter) as caught:
        parse_wait(raw)
    assert caught.value.message == "wait must be a number of seconds, 0 < wait <= 60"


def test_read_query_defaults() -> None:
    assert parse_read_query({}) == ReadQuery(
        since=None, before=None, limit=100, wait=None, latest=False
    )


def test_read_query_modes() -> None:
    assert parse_read_query({"since": "5", "epoch": "e", "limit": "1000", "wait": "60"}) == (
        ReadQuery(since=Cursor(5, "e"), before=None, limit=1000, wait=60.0)
    )
    assert parse_read_query({"before": "1", "limit": "1"}) == ReadQuery(
        since=None, before=1, limit=1, wait=None
    )
    assert parse_read_query({"before": str(MAX_ID)}).before == MAX_ID
    assert parse_read_query({"wait": "0.5"}).wait == 0.5  # a long poll from now on


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"before": "0"}, f"before must be a whole number from 1 to {MAX_ID}"),
        ({"before": str(MAX_ID + 1)}, f"before must be a whole number from 1 to {MAX_ID}"),
        ({"before": ""}, f"before must be a whole number from 1 to {MAX_ID}"),
        ({"before": "\u0661"}, f"before must be a whole number from 1 to {MAX_ID}"),
        ({"before": "9" * 5000}, f"before must be a whole number from 1 to {MAX_ID}"),
        ({"since": ""}, "since " + ID_MESSAGE),
        ({"since": "1", "epoch": ""}, "epoch must be 1 to 64 characters of A-Z a-z 0-9 _ -"),
        ({"limit": ""}, "limit must be a whole number from 1 to 1000"),
        ({"wait": ""}, "wait must be a number of seconds, 0 < wait <= 60"),
        ({"since": "1", "before": "5"}, "since and before cannot be used together"),
        ({"since": "0", "before": "1"}, "since and before cannot be used together"),
        ({"before": "5", "wait": "1"}, "wait cannot be used with before"),
        ({"view": ""}, "view must be log or latest"),
        ({"view": "Latest"}, "view must be log or latest"),
    ],
)
def test_read_query_refusals(query: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidParameter) as caught:
        parse_read_query(query)
    assert caught.value.message == message


def test_read_query_view() -> None:
    assert parse_read_query({"view": "latest"}).latest is True
    assert parse_read_query({"view": "log"}).latest is False
    assert parse_read_query({"view": "latest", "before": "3"}) == ReadQuery(
        since=None, before=3, limit=100, wait=None, latest=True
    )


def test_bounds_default_is_an_empty_room() -> None:
    assert Bounds() == Bounds(first_id=0, last_id=0, epoch="")
    assert Cursor(3) == Cursor(since=3, epoch=None)


KEPT = Bounds(first_id=11, last_id=20, epoch="e")


@pytest.mark.parametrize(
    ("cursor", "start"),
    [
        (None, Start(cursor=20, gap=None)),  # live: the next message published
        (Cursor(10), Start(cursor=10, gap=None)),  # next wanted is first_id: nothing lost
        (Cursor(9), Start(cursor=10, gap=KEPT)),  # message 10 is gone
        (Cursor(0), Start(cursor=10, gap=KEPT)),
        (Cursor(15), Start(cursor=15, gap=None)),
        (Cursor(20), Start(cursor=20, gap=None)),  # up to date
        (Cursor(21), Start(cursor=10, gap=KEPT)),  # beyond the newest id: another log
        (Cursor(20, "e"), Start(cursor=20, gap=None)),
        (Cursor(10, "e"), Start(cursor=10, gap=None)),
        (Cursor(9, "e"), Start(cursor=10, gap=KEPT)),
        (Cursor(15, "old"), Start(cursor=10, gap=KEPT)),  # another epoch: a reset
        (Cursor(1, "old"), Start(cursor=10, gap=KEPT)),
        (Cursor(10, "old"), Start(cursor=10, gap=KEPT)),
    ],
)
def test_stream_start_in_a_trimmed_log(cursor: Cursor | None, start: Start) -> None:
    assert stream_start(cursor, KEPT) == start


FULL = Bounds(first_id=1, last_id=5, epoch="new")


@pytest.mark.parametrize(
    ("cursor", "start"),
    [
        (None, Start(cursor=5, gap=None)),
        (Cursor(0), Start(cursor=0, gap=None)),
        (Cursor(0, "old"), Start(cursor=0, gap=None)),  # saw nothing, lost nothing
        (Cursor(1, "old"), Start(cursor=0, gap=FULL)),  # would skip message 1 of the new log
        (Cursor(1, "new"), Start(cursor=1, gap=None)),
        (Cursor(1), Start(cursor=1, gap=None)),
        (Cursor(5, "old"), Start(cursor=0, gap=FULL)),
        (Cursor(5), Start(cursor=5, gap=None)),
        (Cursor(6), Start(cursor=0, gap=FULL)),
    ],
)
def test_stream_start_in_a_whole_log(cursor: Cursor | None, start: Start) -> None:
    assert stream_start(cursor, FULL) == start


def test_stream_start_in_an_empty_room() -> None:
    assert stream_start(None, Bounds()) == Start(cursor=0, gap=None)
    assert stream_start(Cursor(0), Bounds()) == Start(cursor=0, gap=None)
    assert stream_start(Cursor(0, "x"), Bounds(epoch="y")) == Start(cursor=0, gap=None)
    assert stream_start(Cursor(7), Bounds()) == Start(cursor=0, gap=Bounds())
    assert stream_start(Cursor(1), Bounds()) == Start(cursor=0, gap=Bounds())


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"since": 0},
        {"since": 17, "epoch": "e1"},
        {"since": 17, "epoch": " e1 "},
        {"since": 2**63 - 1},
        {"since": 2**63},
        {"since": -1},
        {"since": 5, "epoch": "not an epoch!"},
        {"since": 5, "epoch": ""},
    ],
)
def test_a_subscribe_frames_cursor_is_the_querys(fields: dict[str, object]) -> None:
    """A ``subscribe`` frame's JSON ``since``/``epoch`` give the cursor (or the refusal)
    the same values in a query give, though the frame's are not parsed from text."""
    query = {name: str(value) for name, value in fields.items()}
    try:
        expected: object = parse_cursor(query)
    except InvalidParameter as error:
        expected = str(error)
    try:
        got: object = frame_cursor(fields)
    except InvalidParameter as error:
        got = str(error)
    assert got == expected


@pytest.mark.parametrize("fields", [{"since": True}, {"since": "3"}, {"since": 1.5}])
def test_a_subscribe_frames_since_is_a_json_integer(fields: dict[str, object]) -> None:
    with pytest.raises(InvalidParameter, match="since must be a whole number"):
        frame_cursor(fields)
