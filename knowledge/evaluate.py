"""`gigdesk kb eval`: how well the matcher recognises held-out rider questions, and (with
--baselines) how two textbook methods do on the same files, so a change to the matcher or the
FAQ can be judged by numbers rather than by a few hand-typed tries.

The held-out file (tests/data/heldout.yaml) lists `questions: [{text, expect}]`; expect is
an entry id, or `none` for a question the bot should not answer from the FAQ."""
from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import yaml

from bot.brain import build_brain
from intents import decide
from knowledge.loader import KnowledgeError, load_knowledge
from knowledge.model import KnowledgeBase

OFF_TOPIC = "none"


@dataclass(frozen=True)
class Question:
    text: str
    expect: str  # an entry id, or OFF_TOPIC

    @property
    def in_scope(self) -> bool:
        return self.expect != OFF_TOPIC


@dataclass(frozen=True)
class Guess:
    entry_id: str  # "" when nothing matched at all
    score: float
    decision: str = ""  # answer | clarify | fallback; "" for methods without a decision rule


@dataclass(frozen=True)
class Outcome:
    question: Question
    guess: Guess
    seconds: float

    @property
    def correct(self) -> bool:
        return self.guess.entry_id == self.question.expect


@dataclass(frozen=True)
class EvalResult:
    outcomes: tuple[Outcome, ...]

    @property
    def in_scope(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.question.in_scope]

    @property
    def accuracy(self) -> float:
        """Top-1 accuracy on the questions the FAQ should answer."""
        scoped = self.in_scope
        return sum(o.correct for o in scoped) / len(scoped) if scoped else 0.0

    def answered_share(self, correct: bool) -> float:
        """Share of in-scope questions answered without asking, and rightly (or wrongly)."""
        scoped = self.in_scope
        hits = [o for o in scoped if o.guess.decision == "answer" and o.correct == correct]
        return len(hits) / len(scoped) if scoped else 0.0

    @property
    def off_topic_answered(self) -> list[Outcome]:
        """Off-topic questions the bot would have answered outright: the worst kind of miss."""
        return [o for o in self.outcomes if not o.question.in_scope and o.guess.decision == "answer"]

    @property
    def misses(self) -> list[Outcome]:
        return [o for o in self.in_scope if not o.correct]

    def confusions(self) -> list[tuple[str, str, int]]:
        """(expected, got, count) for every miss, most frequent first."""
        counts = Counter((o.question.expect, o.guess.entry_id or "（无）") for o in self.misses)
        return sorted(((e, g, n) for (e, g), n in counts.items()), key=lambda t: (-t[2], t[0], t[1]))

    @property
    def mean_ms(self) -> float:
        return 1000 * sum(o.seconds for o in self.outcomes) / len(self.outcomes) if self.outcomes else 0.0


MatcherFn = Callable[[str], Guess]


def evaluate(matcher_fn: MatcherFn, questions: Sequence[Question]) -> EvalResult:
    """Run every question through matcher_fn, timing each call."""
    outcomes = []
    for question in questions:
        start = time.perf_counter()
        guess = matcher_fn(question.text)
        outcomes.append(Outcome(question, guess, time.perf_counter() - start))
    return EvalResult(tuple(outcomes))


def load_questions(path: str | Path) -> list[Question]:
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    raw = data.get("questions") if isinstance(data, dict) else None
    if not isinstance(raw, list):
        raise ValueError(f"{path}: 最上层要有 questions: 列表")
    # The blind sets (tests/data/understanding/*/questions.yaml) say topic, and list off-topic
    # messages on their own.
    off_topic = data.get("offtopic") or []
    return [Question(str(q["text"]), _expected(q.get("expect", q.get("topic")))) for q in raw] + \
        [Question(str(q["text"]), OFF_TOPIC) for q in off_topic if isinstance(q, dict) and "text" in q]


def _expected(value: object) -> str:
    # `none` is a string to YAML but `null` or a blank is None; all three mean off-topic.
    text = "" if value is None else str(value).strip()
    return OFF_TOPIC if text.lower() in ("", "none", "null") else text


def gigdesk_matcher(kb: KnowledgeBase) -> MatcherFn:
    """Our ranking as the bot runs it: the brain's lexical matcher and classifier together, then
    the engine's decision rule."""
    brain = build_brain(kb)

    def guess(text: str) -> Guess:
        candidates = brain.rank(text)
        kind = decide(candidates, names_a_topic=bool(brain.concepts_in(text).topics)).kind
        return Guess(candidates[0].entry_id, candidates[0].score, kind) if candidates else Guess("", 0.0, kind)

    return guess


def lexical_matcher(kb: KnowledgeBase) -> MatcherFn:
    """The lexical matcher alone, as the bot ranked before the classifier and concepts."""
    matcher = build_brain(kb).matcher

    def guess(text: str) -> Guess:
        candidates = matcher.match(text)
        return Guess(candidates[0].entry_id, candidates[0].score) if candidates else Guess("", 0.0)

    return guess


def run_eval(knowledge_dir: str | Path, heldout_path: str | Path, baselines: bool = False,
             threshold: float = 0.0, out: TextIO | None = None) -> int:
    """Print the report; 1 when our top-1 accuracy is below threshold (the CI gate)."""
    out = out or sys.stdout  # looked up per call, so a redirected stdout (pytest's capsys) is used
    kb, problems = load_knowledge(knowledge_dir)
    if kb is None:
        raise KnowledgeError([p for p in problems if p.severity == "error"])
    try:
        questions = load_questions(heldout_path)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        print(f"读不了留出问题文件 {heldout_path}：{exc}", file=out)
        return 2
    unknown = sorted({q.expect for q in questions if q.in_scope and kb.entry(q.expect) is None})
    for entry_id in unknown:
        print(f"提醒：留出问题期望的问答 {entry_id} 不存在（改名或删除了？），这些题必然算错", file=out)

    ours = evaluate(gigdesk_matcher(kb), questions)
    print_report(ours, out)
    if baselines:
        rows = [("gigdesk", ours), ("词面匹配（只用 rapidfuzz 和字词覆盖）", evaluate(lexical_matcher(kb), questions)),
                ("TF-IDF 字符 1-3 gram", evaluate(tfidf_matcher(kb), questions)),
                ("BM25 jieba 分词", evaluate(bm25_matcher(kb), questions))]
        print_comparison(rows, out)
    if ours.accuracy < threshold:
        print(f"未通过：top-1 准确率 {ours.accuracy:.1%} 低于门槛 {threshold:.1%}", file=out)
        return 1
    return 0


# --- baselines ------------------------------------------------------------------------------
# Textbook methods over the same files, so the matcher is compared with something. Both see
# each entry's examples and keywords (one document per example, the keywords as one more) and
# score an entry by its best document; both get clean() (full-width, traditional script,
# punctuation) but not our synonym table, so the comparison is about the matching itself.
# Their libraries are the optional `eval` extra, imported only here.


def _documents(kb: KnowledgeBase) -> tuple[list[str], list[str]]:
    """Cleaned documents and, for each, the entry it belongs to (grouped by entry)."""
    from intents.normalise import clean

    docs, owners = [], []
    for entry in kb.entries:
        texts = [clean(x) for x in entry.examples]
        if entry.keywords:
            texts.append(clean(" ".join(entry.keywords)))
        for text in texts:
            if text:
                docs.append(text)
                owners.append(entry.id)
    return docs, owners


def _best_entry(scores, owners: list[str], scale: float) -> Guess:
    """The entry of the best-scoring document; an all-zero row means nothing matched."""
    best = int(scores.argmax())
    if scores[best] <= 0:
        return Guess("", 0.0)
    return Guess(owners[best], float(scores[best]) * scale)


def tfidf_matcher(kb: KnowledgeBase) -> MatcherFn:
    """TF-IDF over character 1-3 grams, cosine similarity (rows are L2-normalised)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    from intents.normalise import clean

    docs, owners = _documents(kb)
    # "char", not "char_wb": clean() has already removed the spaces char_wb would split on.
    vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 3))
    matrix = vectorizer.fit_transform(docs)

    def guess(text: str) -> Guess:
        query = vectorizer.transform([clean(text)])
        return _best_entry((matrix @ query.T).toarray().ravel(), owners, 100.0)

    return guess


def bm25_matcher(kb: KnowledgeBase) -> MatcherFn:
    """Okapi BM25 over jieba words (the usual way to search Chinese by words)."""
    import numpy as np
    from rank_bm25 import BM25Okapi

    from intents.normalise import clean

    tokenize = _jieba_tokenizer()
    docs, owners = _documents(kb)
    index = BM25Okapi([tokenize(d) for d in docs])

    def guess(text: str) -> Guess:
        tokens = tokenize(clean(text))
        if not tokens:
            return Guess("", 0.0)
        return _best_entry(np.asarray(index.get_scores(tokens)), owners, 1.0)

    return guess


def _jieba_tokenizer() -> Callable[[str], list[str]]:
    import logging

    import jieba

    # jieba announces building its dictionary on stderr at first use; nobody asked.
    jieba.setLogLevel(logging.WARNING)

    def tokenize(text: str) -> list[str]:
        # clean() already dropped punctuation and spaces; the filter keeps that true for
        # anything jieba splits off on its own.
        return [t for t in (w.strip().lower() for w in jieba.lcut(text)) if t and any(ch.isalnum() for ch in t)]

    return tokenize


# --- report -----------------------------------------------------------------------------------


def print_report(result: EvalResult, out: TextIO) -> None:
    scoped = result.in_scope
    off_topic = len(result.outcomes) - len(scoped)
    correct = sum(o.correct for o in scoped)
    print(f"留出问题 {len(result.outcomes)} 条：{len(scoped)} 条应由问答回答，{off_topic} 条无关", file=out)
    print(f"top-1 准确率：{result.accuracy:.1%}（{correct}/{len(scoped)}）", file=out)
    print(f"直接回答且正确：{result.answered_share(True):.1%}；直接回答但答错：{result.answered_share(False):.1%}"
          f"（其余为反问或兜底）", file=out)
    wrongly_answered = result.off_topic_answered
    print(f"无关问题被直接回答：{len(wrongly_answered)}/{off_topic}", file=out)
    for o in wrongly_answered:
        print(f"  {o.guess.entry_id}  {o.guess.score:.1f}  {o.question.text}", file=out)
    misses = result.misses
    print(f"答错 {len(misses)} 条（期望 -> 实际  得分  决定  问题）：", file=out)
    for o in misses:
        print(f"  {o.question.expect} -> {o.guess.entry_id or '（无）'}  {o.guess.score:.1f}  "
              f"{o.guess.decision}  {o.question.text}", file=out)
    confusions = result.confusions()
    if confusions:
        print("混淆（期望 -> 实际：次数）：", file=out)
        for expected, got, count in confusions:
            print(f"  {expected} -> {got}：{count}", file=out)


def print_comparison(rows: list[tuple[str, EvalResult]], out: TextIO) -> None:
    width = max(_display_width(name) for name, _ in rows)
    print("\n对比（同一份问答文件、同样的清洗）：", file=out)
    print(f"{_pad('方法', width)} | top-1 准确率 | 每条平均 ms", file=out)
    for name, result in rows:
        # Column widths match the headers as a terminal shows them (准确率 is 6 columns wide).
        print(f"{_pad(name, width)} | {result.accuracy:>12.1%} | {result.mean_ms:>11.2f}", file=out)


def _display_width(text: str) -> int:
    # Chinese characters take two columns in a terminal.
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _display_width(text))
