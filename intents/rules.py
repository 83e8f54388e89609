"""Rules composed from concepts, as staff write them in danger.yaml and concepts.yaml:

    概念名或词      found when it appears
    甲+乙           both must appear (each may be a concept name or a word)
    甲|乙           either
    ^甲             only in a short message that names no topic (帮帮我, but not 帮帮我 工资被拖欠)
    =甲|乙          only when the whole message is these words, repeated or not (火!!, 急急急)
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from intents.patterns import compile_words

SHORT = 15  # characters, for "^" rules


def compile_concepts(concepts: Mapping[str, Sequence[str]]) -> dict[str, re.Pattern[str] | None]:
    return {name: compile_words(words) for name, words in concepts.items()}


class _Term:
    """One part of a rule: alternatives, each a concept name or a word."""

    def __init__(self, source: str, concepts: Mapping[str, re.Pattern[str] | None]):
        alternatives = [a.strip() for a in source.split("|") if a.strip()]
        self.patterns = [p for a in alternatives if a in concepts and (p := concepts[a]) is not None]
        if (words := compile_words([a for a in alternatives if a not in concepts])) is not None:
            self.patterns.append(words)

    def found(self, text: str) -> bool:
        return any(p.search(text) for p in self.patterns)


class Rule:
    def __init__(self, source: str, concepts: Mapping[str, re.Pattern[str] | None]):
        self.source = source
        self.short_only = source.startswith("^")
        # A word alone means more than the same word inside a message: 火 is a shout, 火太旺 is cooking.
        self.whole = None
        if source.startswith("="):
            words = compile_words(w for w in source[1:].split("|") if w.strip())
            self.whole = re.compile(f"(?:{words.pattern})+") if words else re.compile(r"(?!)")  # (?!): never
        self.terms = [] if self.whole else [_Term(part, concepts) for part in source.lstrip("^").split("+")]

    def fires(self, text: str, short: bool) -> bool:
        if self.whole is not None:
            return self.whole.fullmatch(text) is not None
        return (short or not self.short_only) and all(term.found(text) for term in self.terms)


class RuleSet:
    """Any of the rules; first() names the one that fired, for explanations."""

    def __init__(self, rules: Sequence[str], concepts: Mapping[str, re.Pattern[str] | None]):
        self.rules = [Rule(r, concepts) for r in rules]

    def first(self, text: str, names_a_topic: bool = False) -> str | None:
        short = len(text) <= SHORT and not names_a_topic
        return next((r.source for r in self.rules if r.fires(text, short)), None)
