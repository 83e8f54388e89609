"""Ranks FAQ entries for a rider's message.

Two signals, combined per entry:
- coverage: how much of the message (character unigrams and bigrams, and the concepts it
  names, weighted by how rare they are across entries) the entry's phrasings and keywords
  explain. A concept (#受伤) is shared by every wording of it, so 缝了三针 meets an entry whose
  phrasings say 摔伤. Off-topic messages explain poorly against every entry, which keeps them
  from confident answers.
- closeness: rapidfuzz similarity between the message and the entry's nearest phrasing,
  which rewards same words in the same order and forgives typos.
An inverted index on the grams keeps the work proportional to the grams a message shares
with the base, not to the size of the base."""
from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from rapidfuzz import fuzz, process


@dataclass(frozen=True)
class Candidate:
    entry_id: str
    score: float  # 0..100
    example: str  # the phrasing that came closest
    # The lexical matcher and the classifier, two readings that fail differently, both put this
    # entry first (Brain.rank): evidence of its own, below the score an answer otherwise needs.
    agreed: bool = False


@dataclass(frozen=True)
class Thresholds:
    # On the combined 0..100 score of Brain.rank. Chosen on the nine development sets' 2,476
    # questions and off-topic lines (2026-12-01): from 45/5/62, answering at 40 when the
    # runner-up is 10 behind answered 37 more rightly with no more wrong or off-topic answers,
    # in the middle of a flat region (40/8, 40/12, 38/10 within 5 of it, none wrong).
    answer: float = 40.0  # at or above: answer without asking ...
    margin: float = 10.0  # ... when the runner-up is at least this far behind
    clarify: float = 20.0  # at or above: offer it (a yes/no question, or a choice of two or three)
    # A message that names no topic the FAQ knows (点份外卖, 附近有什么好吃的) is answered only
    # when it is this close, offered as one yes/no question above without_topic_confirm, and
    # never shown a menu of topics.
    without_topic: float = 50.0
    without_topic_confirm: float = 30.0
    # At or above (and the margin ahead), an entry both readings put first is answered, as a
    # guess the reply names ("你问的应该是…"). Chosen on the thirteen development sets
    # (2026-12-02): a logistic model of "is the first entry right", fitted on twelve sets and
    # scored on the thirteenth, was no better than this one rule. Over the sets' 3,214
    # questions it answered 103 more rightly for 3 more wrong (110 for 6 without the margin);
    # 28 and 32 did about as well.
    agreed: float = 30.0


@dataclass(frozen=True)
class Decision:
    kind: str  # "answer" | "confirm" (one plausible entry: ask yes/no) | "clarify" | "fallback"
    candidates: tuple[Candidate, ...]
    guess: bool = False  # an answer on the readings' agreement alone: the reply says what it understood


def decide(candidates: list[Candidate], thresholds: Thresholds = Thresholds(), choices: int = 3,
           names_a_topic: bool = True) -> Decision:
    if not candidates:
        return Decision("fallback", ())
    top = candidates[0]
    runner_up = candidates[1].score if len(candidates) > 1 else 0.0
    guess = top.agreed and top.score >= thresholds.agreed and top.score - runner_up >= thresholds.margin
    if not names_a_topic:
        if top.score >= thresholds.without_topic and top.score - runner_up >= thresholds.margin:
            return Decision("answer", (top,))
        if guess:
            return Decision("answer", (top,), guess=True)
        if top.score >= thresholds.without_topic_confirm:
            return Decision("confirm", (top,))
        return Decision("fallback", tuple(candidates[:choices]))
    if top.score < thresholds.clarify:
        return Decision("fallback", tuple(candidates[:choices]))
    if top.score >= thresholds.answer and top.score - runner_up >= thresholds.margin:
        return Decision("answer", (top,))
    if guess:
        return Decision("answer", (top,), guess=True)
    close = [c for c in candidates[:choices] if c.score >= thresholds.clarify]
    if len(close) == 1:
        return Decision("answer" if top.score >= thresholds.answer else "confirm", (top,))
    return Decision("clarify", tuple(close))


def grams(text: str) -> set[str]:
    """Character unigrams and bigrams: Chinese words are mostly one or two characters."""
    return set(text) | {text[i:i + 2] for i in range(len(text) - 1)}


def _idf(document_frequency: int, entries: int) -> float:
    """Smoothed IDF: a gram in every entry still counts a little; an unseen gram counts most."""
    n = max(entries, 1)
    return math.log((n + 1) / (document_frequency + 0.5))


class Matcher:
    """Built once from {entry_id: (phrasings, keywords)}; match() is read-only and thread-safe."""

    COVERAGE_WEIGHT = 0.6  # the rest goes to closeness

    def __init__(self, entries: Mapping[str, tuple[Iterable[str], Iterable[str]]],
                 normalise: Callable[[str], str], features: Callable[[str], set[str]] = lambda text: set()):
        """features(text) names what a text is about beyond its characters (concepts)."""
        self.normalise = normalise
        self.features = features
        self._examples: dict[str, list[str]] = {}
        self._grams: dict[str, set[str]] = {}
        for entry_id, (phrasings, keywords) in entries.items():
            self._examples[entry_id], self._grams[entry_id] = self._read_entry(phrasings, keywords)
        self._index()

    def _read_entry(self, phrasings: Iterable[str], keywords: Iterable[str]) -> tuple[list[str], set[str]]:
        phrasings, keywords = list(phrasings), list(keywords)
        raw = [str(p) for p in (*phrasings, *keywords)]
        texts = [t for t in (self.normalise(p) for p in phrasings) if t]
        kws = [k for k in (self.normalise(k) for k in keywords) if k]
        return texts, set().union(*(grams(t) for t in texts + kws), *(self.features(r) for r in raw))

    def _index(self) -> None:
        self._df: dict[str, int] = defaultdict(int)
        for gs in self._grams.values():
            for g in gs:
                self._df[g] += 1
        n = len(self._grams)
        self._idf = {g: _idf(df, n) for g, df in self._df.items()}
        self._unseen_idf = _idf(0, n)
        self._postings: dict[str, list[str]] = defaultdict(list)
        for entry_id, gs in self._grams.items():
            for g in gs:
                self._postings[g].append(entry_id)

    def replacing(self, entry_id: str, phrasings: Iterable[str], keywords: Iterable[str]) -> "Matcher":
        """A copy with one existing entry's phrasings and keywords replaced; only the grams that
        entry gains or loses are re-indexed. kb check's leave-one-out builds one per phrasing,
        and the console's save waits on it."""
        copy = object.__new__(Matcher)
        copy.normalise, copy.features, copy._unseen_idf = self.normalise, self.features, self._unseen_idf
        copy._examples, copy._grams = dict(self._examples), dict(self._grams)
        copy._examples[entry_id], copy._grams[entry_id] = copy._read_entry(phrasings, keywords)
        copy._df, copy._idf, copy._postings = defaultdict(int, self._df), dict(self._idf), defaultdict(list, self._postings)
        old, new, n = self._grams[entry_id], copy._grams[entry_id], len(copy._grams)
        for g in old - new:
            copy._df[g] -= 1
            copy._postings[g] = [e for e in copy._postings[g] if e != entry_id]
            if copy._df[g]:
                copy._idf[g] = _idf(copy._df[g], n)
            else:
                del copy._df[g], copy._idf[g], copy._postings[g]
        for g in new - old:
            copy._df[g] += 1
            copy._postings[g] = [*copy._postings[g], entry_id]
            copy._idf[g] = _idf(copy._df[g], n)
        return copy

    @property
    def entry_ids(self) -> list[str]:
        return list(self._examples)

    def match(self, text: str, limit: int = 5, shortlist: int = 8) -> list[Candidate]:
        return self.match_normalised(self.normalise(text), self.features(text), limit, shortlist)

    def match_normalised(self, query: str, features: set[str], limit: int = 5, shortlist: int = 8) -> list[Candidate]:
        """match() for a message already normalised, with its features: a caller that has
        read the message once need not clean it again."""
        if not query:
            return []
        query_grams = grams(query) | features
        total = sum(self._idf.get(g, self._unseen_idf) for g in query_grams)
        covered: dict[str, float] = defaultdict(float)
        for g in query_grams:
            weight = self._idf.get(g)
            if weight is None:
                continue
            for entry_id in self._postings[g]:
                covered[entry_id] += weight
        best = sorted(covered.items(), key=lambda kv: kv[1], reverse=True)[:shortlist]
        candidates = []
        for entry_id, weight in best:
            coverage = weight / total
            closeness, example = self._closest(query, entry_id)
            score = 100 * (self.COVERAGE_WEIGHT * coverage + (1 - self.COVERAGE_WEIGHT) * closeness)
            candidates.append(Candidate(entry_id, round(score, 1), example))
        candidates.sort(key=lambda c: c.score, reverse=True)
        return candidates[:limit]

    def _closest(self, query: str, entry_id: str) -> tuple[float, str]:
        # ratio rewards the whole message matching; partial_ratio a short question that sits
        # inside a longer phrasing (or the reverse), discounted as it proves less. Each is one
        # rapidfuzz call over all the entry's phrasings (its C loop, not a Python one): this is
        # the matcher's hot spot.
        examples = self._examples[entry_id]
        if not examples:
            return 0.0, ""
        whole = process.extractOne(query, examples, scorer=fuzz.ratio)
        part = process.extractOne(query, examples, scorer=fuzz.partial_ratio)
        if 0.9 * part[1] > whole[1]:
            return 0.9 * part[1] / 100, part[0]
        return whole[1] / 100, whole[0]
