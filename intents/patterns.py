"""The small pattern language staff write in concepts.yaml and danger.yaml, compiled once.

A word matches where it appears in the cleaned message; "甲…乙" matches 甲 followed by 乙
within GAP characters (被…打 finds 被顾客打了). Words are cleaned like messages, so 轉 and
转, full-width and half-width are the same."""
from __future__ import annotations

import re
from collections.abc import Iterable

from intents.normalise import clean

GAP = 8  # characters allowed between the two halves of 甲…乙
ELLIPSIS = ("…", "...")


def word_regex(word: str) -> str:
    """One word as a regex source ("" for a word that cleans to nothing)."""
    word = str(word)  # YAML reads 12351 as a number
    for mark in ELLIPSIS:
        if mark in word:
            halves = [clean(h) for h in word.split(mark, 1)]
            if not all(halves):
                return ""
            return re.escape(halves[0]) + f".{{0,{GAP}}}?" + re.escape(halves[1])
    cleaned = clean(word)
    return re.escape(cleaned) if cleaned else ""


def compile_words(words: Iterable[str]) -> re.Pattern[str] | None:
    """One alternation for a list of words, longest first so the longest wording wins."""
    sources = sorted({s for s in (word_regex(w) for w in words) if s}, key=len, reverse=True)
    return re.compile("|".join(sources)) if sources else None
