"""Search queries: parsing what a user typed, matching it, marking the matches. Pure.

A query is words (all must match), ``"exact phrases"``, ``prefix*`` and ``from:NAME``
(``from:"a name"`` when it has spaces); several ``from:`` mean any of those users. Text is
split into tokens the way SQLite's FTS5 ``unicode61 remove_diacritics 2`` tokenizer splits
it (runs of letters, digits and combining marks; everything else separates), and each
token is folded: accents removed, lower case. So ``Café`` finds ``cafe`` and ``CAFÉ``.

The SQLite store's MATCH expression is built here from the parsed tokens, every one of
them quoted: the user's text never reaches FTS5's own syntax (``NEAR``, ``OR``, column
filters, ``^``) unescaped. The memory store matches with :func:`matches`, and both stores
mark a hit's text with :func:`matched_ranges`, so every store answers alike.
"""

from __future__ import annotations

import base64
import binascii
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hubbub.errors import InvalidParameter, InvalidQuery, ProtocolError
from hubbub.protocol.cursors import MAX_ID, parse_number
from hubbub.protocol.messages import Message, validate_room

MAX_QUERY = 256  # characters of a query
MAX_TERMS = 16  # words, phrases and from: together
DEFAULT_SEARCH_LIMIT = 20
MAX_SEARCH_LIMIT = 100
MAX_SEARCH_ROOMS = 100  # rooms named in one ?rooms=


@dataclass(frozen=True, slots=True)
class Term:
    """One word or phrase: folded tokens that must appear in a row; ``prefix``: the last
    one only has to start the token found."""

    tokens: tuple[str, ...]
    prefix: bool = False


@dataclass(frozen=True, slots=True)
class Query:
    """A parsed query: every term must match; ``users``, folded: any of them wrote it."""

    terms: tuple[Term, ...]
    users: tuple[str, ...] = ()


def _is_token_char(char: str) -> bool:
    # unicode61's token characters: letters, numbers, private use, and the combining
    # marks its diacritic removal folds into the letter before them.
    category = unicodedata.category(char)
    return category[0] in ("L", "N", "M") or category == "Co"


def fold(text: str) -> str:
    """Case and accents folded, as FTS5's ``unicode61 remove_diacritics 2`` does."""
    if text.isascii():  # no accents to strip: the same, without a call per character
        return text.lower()
    decomposed = unicodedata.normalize("NFD", text.lower())
    stripped = "".join(c for c in decomposed if not unicodedata.category(c).startswith("M"))
    return unicodedata.normalize("NFC", stripped)


def token_spans(text: str) -> Iterator[tuple[int, int, str]]:
    """``(start, end, folded token)`` for each token of ``text``, character offsets."""
    start: int | None = None  # where the token being read began
    for index, char in enumerate(text):
        if _is_token_char(char):
            if start is None:
                start = index
        elif start is not None:
            token = fold(text[start:index])
            if token:
                yield start, index, token
            start = None
    if start is not None:
        token = fold(text[start:])
        if token:
            yield start, len(text), token


def tokens(text: str) -> tuple[str, ...]:
    return tuple(token for _, _, token in token_spans(text))


def parse_query(text: str) -> Query:
    """Parse what the user typed; ``InvalidQuery`` says what is wrong with it."""
    if len(text) > MAX_QUERY:
        raise InvalidQuery(f"a query is at most {MAX_QUERY} characters")
    terms: list[Term] = []
    users: list[str] = []
    pos = 0
    end = len(text)
    while pos < end:
        char = text[pos]
        if char.isspace():
            pos += 1
        elif text[pos : pos + 5].lower() == "from:":
            name, pos = _from_name(text, pos + 5)
            users.append(fold(name))
        elif char == '"':
            close = _closing_quote(text, pos)
            phrase = tokens(text[pos + 1 : close])
            pos = close + 1
            prefix = pos < end and text[pos] == "*"
            if prefix:
                pos += 1
            if not phrase:
                raise InvalidQuery("a quoted phrase has no letters or digits")
            terms.append(Term(phrase, prefix))
        else:
            stop = pos
            while stop < end and not text[stop].isspace() and text[stop] != '"':
                stop += 1
            term = _word(text[pos:stop])
            if term is not None:
                terms.append(term)
            pos = stop
        if len(terms) + len(users) > MAX_TERMS:
            raise InvalidQuery(f"a query has at most {MAX_TERMS} words, phrases and from:")
    if not terms and not users:
        raise InvalidQuery("the query has no words to search for")
    return Query(tuple(terms), tuple(dict.fromkeys(users)))


def _closing_quote(text: str, opening: int) -> int:
    """Where the quote at ``opening`` (a phrase's or a ``from:`` name's) is closed."""
    close = text.find('"', opening + 1)
    if close == -1:
        raise InvalidQuery('a quote (") is not closed')
    return close


def _from_name(text: str, pos: int) -> tuple[str, int]:
    """The user name after ``from:`` (quoted when it has spaces), and where it ends."""
    if pos < len(text) and text[pos] == '"':
        close = _closing_quote(text, pos)
        name, pos = text[pos + 1 : close].strip(), close + 1
    else:
        stop = pos
        while stop < len(text) and not text[stop].isspace():
            stop += 1
        name, pos = text[pos:stop], stop
    if not name:
        raise InvalidQuery("from: needs a user name")
    if len(name) > 64:
        raise InvalidQuery("from: takes a user name of at most 64 characters")
    return name, pos


def _word(word: str) -> Term | None:
    """A bare word: its tokens (``don't`` is the phrase ``don t``), ``*`` at its end a
    prefix; None for punctuation alone, which no index holds."""
    prefix = word.endswith("*")
    body = word[:-1] if prefix else word
    if "*" in body:
        raise InvalidQuery("* goes only at the end of a word")
    if prefix and (not body or not _is_token_char(body[-1])):
        raise InvalidQuery("* must follow a letter or digit")
    found = tokens(body)
    if not found:
        return None
    return Term(found, prefix)


# Matching (the memory store) and marking (every store)


def _term_spans(spans: Sequence[tuple[int, int, str]], term: Term) -> Iterator[tuple[int, int]]:
    size = len(term.tokens)
    for index in range(len(spans) - size + 1):
        for offset, wanted in enumerate(term.tokens):
            found = spans[index + offset][2]
            last = offset == size - 1
            if not (found == wanted or (last and term.prefix and found.startswith(wanted))):
                break
        else:
            yield spans[index][0], spans[index + size - 1][1]


def matched_ranges(text: str, query: Query) -> list[list[int]]:
    """The ranges of ``text`` the query's terms match: ``[start, end]`` character offsets
    (Unicode code points, end excluded), sorted, overlapping ones merged."""
    spans = list(token_spans(text))
    found = sorted(r for term in query.terms for r in _term_spans(spans, term))
    merged: list[list[int]] = []
    for start, stop in found:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], stop)
        else:
            merged.append([start, stop])
    return merged


def matches(text: str, user: str, query: Query) -> bool:
    """Whether a message of ``user`` with ``text`` is a hit."""
    if query.users and fold(user) not in query.users:
        return False
    spans = list(token_spans(text))
    return all(next(_term_spans(spans, term), None) is not None for term in query.terms)


# The SQLite store's FTS5 expression


def _quoted(token: str) -> str:
    return '"' + token.replace('"', '""') + '"'


def key_token(prefix: str, value: str) -> str:
    """A room or user as one index token: ``prefix`` and the hex of its UTF-8, so any
    name is a single token and a room-name prefix stays a token prefix."""
    return prefix + value.encode().hex()


def room_key(room: str) -> str:
    return key_token("r", room)


def user_key(folded: str) -> str:
    """The index token of a user name, already folded."""
    return key_token("u", folded)


def index_keys(room: str, user: str) -> str:
    """The ``keys`` column of a message's index row: its room's and its user's token (a
    room's start with ``r``, a user's with ``u``: a room prefix never matches a user)."""
    return f"{room_key(room)} {user_key(fold(user))}"


def fts_match(query: Query, scope: Sequence[str] | None) -> str:
    """The FTS5 MATCH expression for ``query`` in the rooms ``scope`` allows (room names
    and prefixes ending in ``*``; None: every room). Only quoted tokens reach FTS5."""
    parts = []
    for term in query.terms:
        phrase = _quoted(" ".join(term.tokens)) + (" *" if term.prefix else "")
        parts.append(f"text : {phrase}")
    if query.users:
        users = " OR ".join(_quoted(user_key(user)) for user in query.users)
        parts.append(f"keys : ({users})")
    if scope is not None and "*" not in scope:
        rooms = []
        for pattern in scope:
            if pattern.endswith("*"):
                rooms.append(_quoted(room_key(pattern[:-1])) + " *")
            else:
                rooms.append(_quoted(room_key(pattern)))
        parts.append("keys : (" + " OR ".join(rooms) + ")")
    return " AND ".join(parts)


# The request: parameters and paging


@dataclass(frozen=True, slots=True)
class SearchRequest:
    """A validated search: the query, how many hits, and where the page starts."""

    query: Query
    limit: int
    before: int | None = None  # one room: hits with id < before
    after_hit: tuple[str, int] | None = None  # across rooms: hits older than this one
    rooms: tuple[str, ...] | None = None  # across rooms: only these


def _limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_SEARCH_LIMIT
    return parse_number(raw, "limit", 1, MAX_SEARCH_LIMIT)


def _query(raw: str | None) -> Query:
    if raw is None:
        raise InvalidQuery("search with ?q=QUERY")
    return parse_query(raw)


def parse_room_search(params: Mapping[str, str]) -> SearchRequest:
    """``GET /rooms/{room}/search``: ``q``, ``limit``, ``before``."""
    raw = params.get("before")
    before = None if raw is None else parse_number(raw, "before", 1, MAX_ID)
    return SearchRequest(_query(params.get("q")), _limit(params.get("limit")), before=before)


def parse_search(params: Mapping[str, str]) -> SearchRequest:
    """``GET /search``: ``q``, ``limit``, ``next``, ``rooms``."""
    rooms = None
    raw = params.get("rooms")
    if raw is not None:
        names = [validate_room(name.strip()) for name in raw.split(",") if name.strip()]
        if not names or len(names) > MAX_SEARCH_ROOMS:
            raise InvalidParameter(f"rooms names 1 to {MAX_SEARCH_ROOMS} rooms, comma-separated")
        rooms = tuple(dict.fromkeys(names))
    after_hit = None
    raw = params.get("next")
    if raw is not None:
        after_hit = decode_next(raw)
    return SearchRequest(
        _query(params.get("q")), _limit(params.get("limit")), after_hit=after_hit, rooms=rooms
    )


def encode_next(room: str, message_id: int) -> str:
    """The opaque ``next`` of a page across rooms: the last hit's room and id, which the
    caller has just been shown (nothing about a room it may not read)."""
    raw = f"{room}\n{message_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_next(raw: str) -> tuple[str, int]:
    bad = InvalidParameter("next must be the next of an earlier answer, as it was sent")
    try:
        text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
        room, number = text.split("\n")  # exactly one newline
        # A message id as encode_next wrote it: 1 to 2**63 - 1 (19 digits), ASCII digits.
        if not number.isascii() or not number.isdigit() or len(number) > 19:
            raise bad
        message_id = int(number)
        if not 1 <= message_id <= MAX_ID:
            raise bad
        return validate_room(room), message_id
    except (binascii.Error, UnicodeDecodeError, ValueError, ProtocolError):
        raise bad from None


# The answers


def hit_object(message: Message, text: str, edited_ts: int | None, query: Query) -> dict[str, Any]:
    """A hit as the protocol shows it: the message in its latest version (as
    ``?view=latest`` shows it) and ``ranges``, the matched parts of its text."""
    body = message.to_dict()
    body["text"] = text
    if edited_ts is not None:
        body["edited"] = True
        body["edited_ts"] = edited_ts
    body["ranges"] = matched_ranges(text, query)
    return body
