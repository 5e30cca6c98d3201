"""The search query language, matching and marking: pure functions, no store, no sockets."""

from __future__ import annotations

import sqlite3

import pytest

from hubbub.errors import InvalidParameter, InvalidQuery, InvalidRoom
from hubbub.protocol.search import (
    MAX_QUERY,
    Query,
    Term,
    decode_next,
    encode_next,
    fold,
    fts_match,
    index_keys,
    matched_ranges,
    matches,
    parse_query,
    parse_room_search,
    parse_search,
    room_key,
    tokens,
)


def test_words_all_must_match() -> None:
    """Bare words are terms that must all be present, in any order."""
    query = parse_query("deploy  friday")
    assert query == Query((Term(("deploy",)), Term(("friday",))))
    assert matches("Friday we deploy", "bob", query)
    assert not matches("we deploy on monday", "bob", query)


def test_phrase_needs_its_words_in_a_row() -> None:
    """A quoted phrase matches its words next to each other, punctuation between allowed."""
    query = parse_query('"release notes"')
    assert query.terms == (Term(("release", "notes")),)
    assert matches("the release, notes!", "a", query)
    assert not matches("notes of the release", "a", query)


def test_prefix() -> None:
    """``word*`` matches tokens starting with it; a phrase may end in a prefix."""
    query = parse_query("depl*")
    assert query.terms == (Term(("depl",), prefix=True),)
    assert matches("Deployed it", "a", query)
    assert not matches("redeploy", "a", query)
    assert parse_query('"big dep"*').terms == (Term(("big", "dep"), prefix=True),)


def test_from_filters_by_user_case_and_accent_insensitive() -> None:
    """``from:NAME`` (or ``from:"a name"``) keeps messages of that user; several: any."""
    query = parse_query("from:Zoë hello")
    assert query.users == ("zoe",)
    assert matches("hello", "zoe", query)
    assert not matches("hello", "alice", query)
    assert parse_query('from:"Ann Lee" FROM:bob').users == ("ann lee", "bob")
    assert parse_query("from:alice") == Query((), ("alice",))


def test_case_and_accents_fold() -> None:
    """Case and accents never matter, in the query or in the text."""
    assert fold("CAFÉ") == "cafe"
    assert tokens("Crème BRÛLÉE, naïve") == ("creme", "brulee", "naive")
    assert matches("un café crème", "a", parse_query("CAFE creme"))


def test_ascii_folds_as_any_text() -> None:
    """ASCII takes a shorter way (``lower``), to the same result as the whole folding:
    every ASCII character, and ASCII beside an accent (the long way)."""
    every = "".join(map(chr, range(128)))
    assert fold(every) == every.lower()
    assert fold(every + "É") == every.lower() + "e"
    assert fold("Publisher") == "publisher"


def test_punctuation_splits_words() -> None:
    """``don't`` is the phrase ``don t``, as the index splits it; ``_`` separates too."""
    assert parse_query("don't").terms == (Term(("don", "t")),)
    assert tokens("snake_case x-y") == ("snake", "case", "x", "y")


@pytest.mark.parametrize(
    "text",
    [
        '"unbalanced',
        'hello "there',
        "*",
        "hello *",
        "*foo",
        "fo*o",
        "foo**",
        "-*",
        "",
        "   ",
        "!!! ---",
        '""',
        '"!!"',
        "from:",
        'from:"alice',
        "x" * (MAX_QUERY + 1),
        " ".join(["w"] * 17),
    ],
)
def test_bad_queries_are_invalid_query(text: str) -> None:
    """Every query the index cannot take is refused with ``invalid_query``."""
    with pytest.raises(InvalidQuery) as refused:
        parse_query(text)
    assert refused.value.status == 400


def test_matched_ranges_are_code_point_offsets() -> None:
    """Ranges are [start, end) code points into the text as stored, merged when they touch."""
    text = "Zoë said: Release notes, then release."
    ranges = matched_ranges(text, parse_query('"release notes" release'))
    assert ranges == [[10, 23], [30, 37]]
    assert [text[a:b] for a, b in ranges] == ["Release notes", "release"]
    emoji = "🎉 café"
    assert matched_ranges(emoji, parse_query("cafe")) == [[2, 6]]


def test_fts_match_quotes_every_term() -> None:
    """The FTS5 expression holds only quoted tokens: FTS5 operators typed by a user
    are plain words, and a quote in a token cannot close the string."""
    query = parse_query('NEAR(a b) OR text: ^x "c d"* from:e"ve')
    expression = fts_match(query, None)
    assert expression == (
        'text : "near a" AND text : "b" AND text : "or" AND text : "text"'
        ' AND text : "x" AND text : "c d" * AND keys : ("u' + b'e"ve'.hex() + '")'
    )


def test_fts_match_scope() -> None:
    """A scope of names and prefixes becomes room-key tokens (a prefix stays a prefix)."""
    expression = fts_match(parse_query("hi"), ("general", "team-*"))
    assert expression == (
        f'text : "hi" AND keys : ("{room_key("general")}" OR "{room_key("team-")}" *)'
    )
    assert fts_match(parse_query("hi"), ("*",)) == 'text : "hi"'


def test_fts5_takes_every_expression_and_agrees_with_matches() -> None:
    """A real FTS5 table with the store's tokenizer takes each expression and finds
    exactly what :func:`matches` finds."""
    conn = sqlite3.connect(":memory:")
    conn.execute(
        "CREATE VIRTUAL TABLE search USING fts5(text, keys,"
        " tokenize='unicode61 remove_diacritics 2')"
    )
    rows = [
        ("Café crème at noon", "zoë"),
        ("don't deploy on friday", "bob"),
        ("DEPLOYED: release notes v2", "alice"),
        ("NEAR the end OR not", "bob"),
        ('say "hi" * 3', "alice"),
        ("x\ue000y a\u0301b 5€z", "carol"),
    ]
    for text, user in rows:
        conn.execute(
            "INSERT INTO search (text, keys) VALUES (?, ?)",
            (text, index_keys("r", user)),
        )
    queries = [
        "cafe",
        "CRÈME noon",
        "don't",
        "deploy*",
        '"release notes"',
        "from:Zoe",
        "from:bob near",
        'NEAR OR "hi"',
        "v2 from:alice",
        "from:alice from:carol",
        "x\ue000y",
        "x",
        "ab 5 z",
        "missing",
    ]
    for text in queries:
        query = parse_query(text)
        found = {
            row[0]
            for row in conn.execute(
                "SELECT rowid FROM search WHERE search MATCH ?", (fts_match(query, ("r",)),)
            )
        }
        expected = {i + 1 for i, (t, u) in enumerate(rows) if matches(t, u, query)}
        assert found == expected, text


def test_search_parameters() -> None:
    """limit defaults to 20 and is at most 100; before is an id; rooms are room names."""
    request = parse_room_search({"q": "hi"})
    assert (request.limit, request.before) == (20, None)
    assert parse_room_search({"q": "hi", "limit": "100", "before": "7"}).before == 7
    for bad in ({"q": "hi", "limit": "101"}, {"q": "hi", "limit": "0"}, {"q": "hi", "before": "x"}):
        with pytest.raises(InvalidParameter):
            parse_room_search(bad)
    with pytest.raises(InvalidQuery):
        parse_room_search({})
    assert parse_search({"q": "hi", "rooms": "a, b,a"}).rooms == ("a", "b")
    with pytest.raises(InvalidRoom):
        parse_search({"q": "hi", "rooms": "a,../x"})


def test_next_round_trips_and_refuses_anything_else() -> None:
    """``next`` decodes to the hit it was made from; anything else is invalid_parameter."""
    token = encode_next("team-7", 42)
    assert decode_next(token) == ("team-7", 42)
    assert parse_search({"q": "x", "next": token}).after_hit == ("team-7", 42)
    for bad in ("", "!!", encode_next("team-7", 1)[:-3], "Z2VuZXJhbA", "Li4KMQ"):
        with pytest.raises(InvalidParameter):
            decode_next(bad)
