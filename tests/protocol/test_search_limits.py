"""The search language's limits and refusals, both sides of each, and the exact shapes of
what a search answers (``hubbub.protocol.search``): no store, no sockets."""

from __future__ import annotations

import base64

import orjson
import pytest

from hubbub.errors import InvalidParameter, InvalidQuery
from hubbub.protocol.cursors import MAX_ID
from hubbub.protocol.messages import Message
from hubbub.protocol.search import (
    DEFAULT_SEARCH_LIMIT,
    MAX_QUERY,
    MAX_SEARCH_LIMIT,
    MAX_SEARCH_ROOMS,
    MAX_TERMS,
    Query,
    SearchRequest,
    Term,
    _quoted,
    decode_next,
    encode_next,
    fts_match,
    hit_object,
    index_keys,
    parse_query,
    parse_room_search,
    parse_search,
    room_key,
    tokens,
    user_key,
)
from tests.protocol.test_cursors import NOT_WHOLE

NOT_CLOSED = 'a quote (") is not closed'
EMPTY_PHRASE = "a quoted phrase has no letters or digits"
STAR_INSIDE = "* goes only at the end of a word"
STAR_ALONE = "* must follow a letter or digit"
NO_NAME = "from: needs a user name"
LONG_NAME = "from: takes a user name of at most 64 characters"
NO_WORDS = "the query has no words to search for"
TOO_MANY = "a query has at most 16 words, phrases and from:"
TOO_LONG = "a query is at most 256 characters"


def words(count: int) -> str:
    return " ".join(f"w{n}" for n in range(count))


def test_the_limits_are_the_documented_ones() -> None:
    """docs/protocol.md, *Search*: 256 characters, 16 terms, limit 1..100 (default 20),
    1 to 100 rooms."""
    assert (MAX_QUERY, MAX_TERMS) == (256, 16)
    assert (DEFAULT_SEARCH_LIMIT, MAX_SEARCH_LIMIT, MAX_SEARCH_ROOMS) == (20, 100, 100)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x" * 257, TOO_LONG),
        ("x " * 128 + "y", TOO_LONG),  # 257 characters, most of them blanks
        ('"unbalanced', NOT_CLOSED),
        ('hello "there', NOT_CLOSED),
        ('"a" "b', NOT_CLOSED),
        ('from:"alice', NOT_CLOSED),
        ('""', EMPTY_PHRASE),
        ('"!!"', EMPTY_PHRASE),
        ('hello "" world', EMPTY_PHRASE),
        ('"-"*', EMPTY_PHRASE),
        ("*foo", STAR_INSIDE),
        ("fo*o", STAR_INSIDE),
        ("foo**", STAR_INSIDE),
        ("*", STAR_ALONE),
        ("hello *", STAR_ALONE),
        ("-*", STAR_ALONE),
        ("foo-*", STAR_ALONE),
        ("from:", NO_NAME),
        ("hello from:", NO_NAME),
        ('from:""', NO_NAME),
        ('from:"   "', NO_NAME),
        ("from:" + "x" * 65, LONG_NAME),
        ('from:"' + "x" * 65 + '"', LONG_NAME),
        ("", NO_WORDS),
        ("   ", NO_WORDS),
        ("!!! ---", NO_WORDS),
        (words(MAX_TERMS + 1), TOO_MANY),
        (words(MAX_TERMS) + " from:bob", TOO_MANY),
        (words(MAX_TERMS - 1) + ' "a b" from:bob', TOO_MANY),
        (" ".join(f"from:u{n}" for n in range(MAX_TERMS + 1)), TOO_MANY),
    ],
)
def test_each_refusal_says_what_is_wrong(text: str, message: str) -> None:
    """Every query the index cannot take is a 400 ``invalid_query`` with its reason."""
    with pytest.raises(InvalidQuery) as refused:
        parse_query(text)
    assert (refused.value.status, refused.value.message) == (400, message)


def test_the_limits_themselves_are_accepted() -> None:
    """256 characters, 16 terms (words, phrases and from: together), a 64-character name."""
    assert parse_query("x" * MAX_QUERY) == Query((Term(("x" * MAX_QUERY,)),))
    sixteen = parse_query(words(MAX_TERMS))
    assert sixteen.terms == tuple(Term((f"w{n}",)) for n in range(MAX_TERMS))
    mixed = parse_query(words(MAX_TERMS - 2) + ' "a b" from:bob')
    assert (len(mixed.terms), mixed.users) == (MAX_TERMS - 1, ("bob",))
    users = parse_query(" ".join(f"from:u{n}" for n in range(MAX_TERMS)))
    assert users == Query((), tuple(f"u{n}" for n in range(MAX_TERMS)))
    assert parse_query("from:" + "X" * 64).users == ("x" * 64,)
    assert parse_query('from:"  ' + "x" * 64 + '  "').users == ("x" * 64,)


@pytest.mark.parametrize(
    ("text", "query"),
    [
        ('"big dep"*now', Query((Term(("big", "dep"), True), Term(("now",))))),
        ('"a b"c', Query((Term(("a", "b")), Term(("c",))))),
        ('x "a b" y', Query((Term(("x",)), Term(("a", "b")), Term(("y",))))),
        ('a"b c"', Query((Term(("a",)), Term(("b", "c"))))),
        ('"a" "b"', Query((Term(("a",)), Term(("b",))))),
        ('from:"ann lee"x', Query((Term(("x",)),), ("ann lee",))),
        ('from:"a b" "c"', Query((Term(("c",)),), ("a b",))),
        ("from:ann,lee x", Query((Term(("x",)),), ("ann,lee",))),
        ("From:Bob fRoM:bob FROM:BÖB", Query((), ("bob",))),
        ("xfrom:bob", Query((Term(("xfrom", "bob")),))),
        ("--- word", Query((Term(("word",)),))),
    ],
)
def test_where_each_term_ends(text: str, query: Query) -> None:
    """A phrase ends at its closing quote and a word at a blank or a quote; ``from:``
    starts a term only where a term starts; names are folded and said once."""
    assert parse_query(text) == query


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("Ab1 x", ("ab1", "x")),  # letters and digits
        ("x² y", ("x²", "y")),  # other numbers (No) too
        ("a\u0301b", ("ab",)),  # a combining mark joins the token, then is folded away
        ("\u0301a", ("a",)),
        ("x\ue000y z", ("x\ue000y", "z")),  # private use (Co) is a token character
        ("5€x", ("5", "x")),  # a symbol separates
        ("a_b\u00a0c\u200bd", ("a", "b", "c", "d")),  # punctuation, spaces, format
        ("", ()),
        ("\u0301", ()),  # a mark alone folds to nothing
    ],
)
def test_token_characters_are_unicode61s(text: str, found: tuple[str, ...]) -> None:
    """Letters, numbers, combining marks and private use make tokens; nothing else
    (tests/protocol/test_search_query.py checks FTS5 agrees)."""
    assert tokens(text) == found


def test_index_tokens_are_hex_of_the_name() -> None:
    """Rooms start with ``r``, users with ``u``, then the hex of the UTF-8 name."""
    assert room_key("general") == "r67656e6572616c"
    assert user_key("zoe") == "u7a6f65"
    assert index_keys("general", "Zoë") == "r67656e6572616c u7a6f65"


def test_fts_match_names_every_user_with_or() -> None:
    """Several ``from:`` are alternatives, joined by FTS5's ``OR``."""
    query = parse_query("from:a hi from:b")
    assert fts_match(query, None) == 'text : "hi" AND keys : ("u61" OR "u62")'
    assert fts_match(parse_query("from:a"), ["x"]) == 'keys : ("u61") AND keys : ("r78")'


def test_a_quote_inside_a_token_is_doubled() -> None:
    """FTS5's string quoting: ``"`` inside is written twice, so it cannot end the string.
    No token the parser makes holds one; the quoting does not rely on that."""
    assert _quoted('say "hi"') == '"say ""hi"""'
    assert _quoted("plain") == '"plain"'


Q = Query((Term(("hi",)),))


@pytest.mark.parametrize(
    ("raw", "limit"),
    [
        (None, DEFAULT_SEARCH_LIMIT),
        ("1", 1),
        ("100", 100),
        (" 7\t", 7),
        ("0100", 100),
        ("0000000000000000020", 20),  # 19 characters, as for every number parameter
    ],
)
def test_limit_accepted(raw: str | None, limit: int) -> None:
    params = {"q": "hi"} if raw is None else {"q": "hi", "limit": raw}
    assert parse_room_search(params) == SearchRequest(Q, limit)
    assert parse_search(params) == SearchRequest(Q, limit)


@pytest.mark.parametrize("raw", ["0", "101", "1000", *NOT_WHOLE])
def test_limit_refused(raw: str) -> None:
    for parse in (parse_room_search, parse_search):
        with pytest.raises(InvalidParameter) as refused:
            parse({"q": "hi", "limit": raw})
        assert refused.value.message == "limit must be a whole number from 1 to 100"


@pytest.mark.parametrize(
    ("raw", "before"), [("1", 1), (" 42 ", 42), ("0000000000000000001", 1), (str(MAX_ID), MAX_ID)]
)
def test_before_accepted(raw: str, before: int) -> None:
    assert parse_room_search({"q": "hi", "before": raw}) == SearchRequest(Q, 20, before=before)


@pytest.mark.parametrize("raw", ["0", str(MAX_ID + 1), *NOT_WHOLE])
def test_before_refused(raw: str) -> None:
    """A message id: 1 to 2**63 - 1 (a larger one is a 400, not the store's overflow)."""
    with pytest.raises(InvalidParameter) as refused:
        parse_room_search({"q": "hi", "before": raw})
    assert refused.value.message == f"before must be a whole number from 1 to {MAX_ID}"


def test_q_is_required_on_both_routes() -> None:
    for parse in (parse_room_search, parse_search):
        with pytest.raises(InvalidQuery) as refused:
            parse({"limit": "5"})
        assert refused.value.message == "search with ?q=QUERY"


def test_rooms_names_1_to_100() -> None:
    """``rooms``: 1 to 100 names (counted as written), each a room name; absent: all."""
    hundred = ",".join(f"r{n}" for n in range(MAX_SEARCH_ROOMS))
    rooms = tuple(f"r{n}" for n in range(MAX_SEARCH_ROOMS))
    assert parse_search({"q": "hi", "rooms": hundred}) == SearchRequest(Q, 20, rooms=rooms)
    assert parse_search({"q": "hi", "rooms": " a ,, b,a "}).rooms == ("a", "b")
    assert parse_search({"q": "hi", "limit": "3"}) == SearchRequest(Q, 3)
    for raw in ("", " , ", hundred + ",x", ",".join(["a"] * (MAX_SEARCH_ROOMS + 1))):
        with pytest.raises(InvalidParameter) as refused:
            parse_search({"q": "hi", "rooms": raw})
        assert refused.value.message == "rooms names 1 to 100 rooms, comma-separated"


def unpadded(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    ("room", "message_id", "token"),
    [
        ("a", 1, "YQox"),
        ("ab", 1, "YWIKMQ"),  # "==" dropped
        ("abc", 1, "YWJjCjE"),  # "=" dropped
        ("team-7", 42, "dGVhbS03CjQy"),
    ],
)
def test_next_is_unpadded_base64url_of_room_and_id(room: str, message_id: int, token: str) -> None:
    assert encode_next(room, message_id) == token
    assert decode_next(token) == (room, message_id)


@pytest.mark.parametrize("room", ["a" * n for n in range(1, 13)] + ["x" * 64, "Team_7.b-"])
@pytest.mark.parametrize("message_id", [1, 9, 12345, MAX_ID])
def test_next_round_trips_at_every_padding(room: str, message_id: int) -> None:
    """Whatever padding the token dropped, it decodes to the hit it was made from."""
    token = encode_next(room, message_id)
    assert "=" not in token
    assert decode_next(token) == (room, message_id)
    assert parse_search({"q": "hi", "next": token}) == SearchRequest(
        Q, 20, after_hit=(room, message_id)
    )


@pytest.mark.parametrize(
    "token",
    [
        "",
        "!!",
        "YWJjC",  # a length base64 never has
        encode_next("team-7", 1)[:-3],
        unpadded(b"general"),  # no newline
        unpadded(b"a\n1\n2"),  # two
        unpadded(b"a 1"),  # a blank is not the newline
        unpadded(b"a\t1"),
        unpadded(b"a\n 1"),
        unpadded(b"a\n1\n"),
        unpadded(b"..\n1"),  # not a room name
        unpadded(b"\n1"),
        unpadded(b"a\n"),
        unpadded(b"a\nx"),
        unpadded(b"a\n0"),
        unpadded(b"a\n-1"),
        unpadded("a\n\u0661\u0662".encode()),
        unpadded(b"a\n" + str(MAX_ID + 1).encode()),
        unpadded(b"a\n" + b"0" * 19 + b"1"),
        unpadded(b"\xff\n1"),  # not UTF-8
    ],
)
def test_next_refuses_anything_else(token: str) -> None:
    with pytest.raises(InvalidParameter) as refused:
        decode_next(token)
    assert refused.value.message == "next must be the next of an earlier answer, as it was sent"


def test_a_hit_is_the_latest_message_and_its_ranges() -> None:
    """docs/protocol.md, *Search*: the message as ``view=latest`` shows it, then ``ranges``."""
    stored = Message(42, "general", "alice", "Ship the Cafe", 1763751234567)
    query = parse_query("ship cafe")
    hit = hit_object(stored, "Ship the Café release", None, query)
    assert orjson.dumps(hit) == (
        b'{"id":42,"room":"general","user":"alice","text":"Ship the Caf\xc3\xa9 release",'
        b'"ts":1763751234567,"ranges":[[0,4],[9,13]]}'
    )
    edited = hit_object(stored, "ship it", 1763751299999, query)
    assert orjson.dumps(edited) == (
        b'{"id":42,"room":"general","user":"alice","text":"ship it","ts":1763751234567,'
        b'"edited":true,"edited_ts":1763751299999,"ranges":[[0,4]]}'
    )
    with_id = Message(7, "r", "bob", "hi", 5, client_id="c1")
    assert orjson.dumps(hit_object(with_id, "hi", 0, parse_query("hi"))) == (
        b'{"id":7,"room":"r","user":"bob","text":"hi","ts":5,"client_id":"c1",'
        b'"edited":true,"edited_ts":0,"ranges":[[0,2]]}'
    )
