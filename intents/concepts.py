"""Concepts: the many ways riders say one thing (骨折, 摔断, 缝了几针 are all 受伤), from
knowledge/concepts.yaml. Pure code, no I/O.

Topics say what a message is about; aspects are what a follow-up asks of the topic already
under discussion (材料, 期限, 费用). The matcher uses topics as features shared by all the
wordings of a concept, the engine uses them to tell a follow-up ("那要什么材料") from a new
question, and the intake to recognise a kind of problem in the rider's own words."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from intents.patterns import compile_words

TOPIC_MARK = "#"  # prefix of a topic feature, so it can never equal a character gram


@dataclass(frozen=True)
class Found:
    topics: frozenset[str]
    aspects: frozenset[str]


class ConceptTagger:
    """Built once from {name: words} for topics and aspects; find() is read-only."""

    def __init__(self, topics: Mapping[str, Sequence[str]], aspects: Mapping[str, Sequence[str]]):
        self._topics = [(name, p) for name, words in topics.items() if (p := compile_words(words))]
        self._aspects = [(name, p) for name, words in aspects.items() if (p := compile_words(words))]

    def find(self, *cleaned_texts: str) -> Found:
        """The concepts in any of the texts (the cleaned message and its synonym-normalised form)."""
        return Found(self._names(self._topics, cleaned_texts), self._names(self._aspects, cleaned_texts))

    def features(self, *cleaned_texts: str) -> set[str]:
        """Topic concepts as matcher features: '#受伤'."""
        return {TOPIC_MARK + name for name in self._names(self._topics, cleaned_texts)}

    @staticmethod
    def _names(patterns, texts: Sequence[str]) -> frozenset[str]:
        return frozenset(name for name, pattern in patterns if any(pattern.search(t) for t in texts if t))

