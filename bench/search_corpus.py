"""The search benchmark's texts: Zipf-like over 100 common words, a rare word now and then."""

from __future__ import annotations

import random

_WORDS = """
the be to of and a in that have it for not on with he as you do at this but his by
from they we say her she or an will my one all would there their what so up out if
about who get which go me when make can like time no just him know take people into
year your good some could them see other than then now look only come its over think
also back after use two how our work first well way even new want because any these
give day most us deploy
"""
VOCABULARY = _WORDS.split()  # the 100 most common English words, give or take
if len(set(VOCABULARY)) != 100:  # pragma: no cover - a slip in the list above
    raise RuntimeError("the vocabulary must be 100 distinct words")
RARE = [f"rare{n:02d}" for n in range(100)]
USERS = [f"user{n:03d}" for n in range(200)]


def texts(rng: random.Random, count: int, start: int) -> list[str]:
    weights = [1 / rank for rank in range(1, len(VOCABULARY) + 1)]
    out = []
    for n in range(start, start + count):
        words = rng.choices(VOCABULARY, weights, k=rng.randint(4, 14))
        if n % 1000 == 999:
            words.insert(rng.randrange(len(words) + 1), RARE[(n // 1000) % len(RARE)])
        out.append(" ".join(words))
    return out
