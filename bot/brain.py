"""Everything built once from a loaded knowledge base: the matcher and the trigger phrases.
Swapped whole when the FAQ files change, so a message is always handled by one version."""
from __future__ import annotations

import re
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import TypeVar

from intents import Candidate, Matcher, Normaliser
from intents.classifier import Classifier, features, trained
from intents.concepts import TOPIC_MARK, ConceptTagger, Found
from intents.danger import Danger, DangerDetector
from intents.danger_model import trained as trained_danger
from intents.normalise import clean
from intents.pinyin import PinyinReader
from intents.rules import RuleSet, compile_concepts
from intents.triggers import PhraseSet
from knowledge import KnowledgeBase

OFF_TOPIC = "~offtopic"  # the classifier's label for offtopic.yaml; never an entry id
# A message naming a topic word is still off-topic when the classifier is this sure of it
# (明天会下雨吗 names 下雨: 0.95; a real question about rain at work scores under 0.2).
OFF_TOPIC_OVER_A_TOPIC = 0.8
# Distinct texts whose reading (cleaned, tagged, ranked, danger and handoff checks) a Brain
# remembers: each is a pure function of the text and this version of the knowledge. After a
# notice is pushed, many riders send the same few words; and an entry's phrasings recur.
MEMO_SIZE = 20_000
# The handoff concept (concepts.yaml) of words saying the person wanted is one of ours.
ADDRESSED_TO_US = "找我们"
T = TypeVar("T")


class Memo:
    """A bounded cache, shared by the database thread (the engine) and the event loop (the
    console's try-a-question). No lock: a dict's get and set are atomic under the GIL; when
    full, the oldest entry goes (first in, first out: simpler than LRU and, with a memo this
    size, as good). Two threads may both compute a missing value; they get the same."""

    def __init__(self, size: int = MEMO_SIZE):
        self.size = size
        self._items: dict[Hashable, object] = {}
        self.hits = self.misses = 0  # approximate across threads: for figures only

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        value = self._items.get(key, _MISSING)
        if value is not _MISSING:
            self.hits += 1
            return value  # type: ignore[return-value]
        value = compute()
        if self.size > 0:
            self.misses += 1
            self._items[key] = value
            if len(self._items) > self.size:
                try:
                    del self._items[next(iter(self._items))]
                except (KeyError, RuntimeError, StopIteration):  # another thread got there first
                    pass
        return value


_MISSING = object()


@dataclass(frozen=True)
class Reading:
    """One message as every check reads it, cleaned and tagged once."""
    text: str
    cleaned: str  # clean(): width, script, case and punctuation folded; dialect words read as standard
    normalised: str  # cleaned, with the lexicon's synonyms replaced
    found: Found  # the topics and follow-up aspects it names

    @property
    def topic_features(self) -> set[str]:
        return {TOPIC_MARK + name for name in self.found.topics}


@dataclass(frozen=True)
class Brain:
    kb: KnowledgeBase
    normalise: Normaliser
    matcher: Matcher
    emergency: PhraseSet
    handoff: PhraseSet
    back_to_bot: PhraseSet
    more: PhraseSet
    greetings: PhraseSet
    thanks: PhraseSet
    report: PhraseSet
    case_status: PhraseSet
    cancel: PhraseSet
    concepts: ConceptTagger
    danger: DangerDetector
    handoff_rules: RuleSet
    addressed_to_us: PhraseSet  # 你们, 工会的, 联系我: a request for a person is for ours, not a platform's
    classifier: Classifier
    pinyin: PinyinReader
    dialect: Normaliser
    new_subject: tuple[str, ...]  # cleaned
    memo: Memo = field(default_factory=Memo, compare=False, repr=False)

    def read(self, text: str) -> Reading:
        return self.memo.get(("read", text), lambda: self._read(text))

    def _read(self, text: str) -> Reading:
        # Typed in pinyin (bei ren gen le yi lu): read with the words the knowledge knows in 汉字.
        typed = self.pinyin.read(text)
        # Dialect words (咗, 喺, 冇) are read as the standard ones by every check, danger's too.
        cleaned = self.dialect(text if typed is None else typed)  # cleaned once, here
        normalised = self.normalise.replace(cleaned)
        return Reading(text, cleaned, normalised, self.concepts.find(cleaned, normalised))

    def rank(self, message: str | Reading, limit: int = 5, off_topic_floor: float = 0.0) -> list[Candidate]:
        """FAQ entries for a message, best first: the lexical matcher's closeness to the
        phrasings and the classifier's probability, half each (0..100). The thresholds were
        tuned on this scale; a FAQ past classifier.MAX_ENTRIES is ranked lexically only.
        off_topic_floor: how likely off-topic must be, at least, to offer nothing (raised
        within a conversation, where 几点开门 or 咋参加 follow the topic)."""
        reading = self._reading(message)
        return list(self.memo.get(("rank", reading.text, limit, off_topic_floor),
                                  lambda: tuple(self._rank(reading, limit, off_topic_floor))))

    def _rank(self, reading: Reading, limit: int, off_topic_floor: float) -> list[Candidate]:
        topics = reading.topic_features
        if not self.classifier.active:  # a FAQ too large for it: the lexical matcher alone
            return self.matcher.match_normalised(reading.normalised, topics, limit=limit)
        lexical = {c.entry_id: c for c in self.matcher.match_normalised(reading.normalised, topics, limit=8)}
        probabilities = self.classifier.probabilities(features(reading.normalised, topics))
        # Off-topic is a class of its own (offtopic.yaml): when it is the likeliest and the
        # message names no topic, nothing is offered (no menu of unrelated entries for 附近有啥好吃的).
        off = probabilities.pop(OFF_TOPIC, 0.0)
        if probabilities and off > max(probabilities.values()) and off >= off_topic_floor and \
                (not reading.found.topics or off >= OFF_TOPIC_OVER_A_TOPIC):
            return []
        likely = sorted(probabilities, key=probabilities.get, reverse=True)[:8]
        # lexical is best first; an entry first in both readings is marked (see Candidate.agreed)
        lexical_first = next(iter(lexical), None)
        both_first = lexical_first if likely and likely[0] == lexical_first else None
        scored = [Candidate(entry_id, round(50 * probabilities.get(entry_id, 0.0)
                                            + 0.5 * (lexical[entry_id].score if entry_id in lexical else 0.0), 1),
                            lexical[entry_id].example if entry_id in lexical else "", agreed=entry_id == both_first)
                  for entry_id in dict.fromkeys([*lexical, *likely])]
        scored.sort(key=lambda c: c.score, reverse=True)
        return scored[:limit]

    def concepts_in(self, message: str | Reading) -> Found:
        """The topics and follow-up aspects a message names, in its own words or a synonym's."""
        return self._reading(message).found

    def danger_in(self, message: str | Reading) -> Danger:
        """Danger to life by kind. The lexicon's emergency phrases still count, with the general
        reply (110 and 120), where the detector found nothing: staff add a phrase there when a
        rider's words were missed, and it must work at once."""
        reading = self._reading(message)
        return self.memo.get(("danger", reading.text), lambda: self._danger_in(reading))

    def _danger_in(self, reading: Reading) -> Danger:
        found = self.danger.detect(reading.cleaned, names_a_topic=bool(reading.found.topics))
        if found:
            return found
        # The same figures of speech and the same past-or-policy test apply to those phrases.
        text = self.danger.without_figures(reading.cleaned)
        if (phrase := self.emergency.found_in(text)) and not self.danger.set_aside(text):
            return Danger(("plea",), phrase)
        return found

    def opens_new_subject(self, reading: Reading) -> bool:
        """对了 / 顺便问下 / 另外 at the start: the rider changes the subject."""
        return reading.cleaned.startswith(self.new_subject) if self.new_subject else False

    def asks_for_a_person(self, message: str | Reading) -> str | None:
        cleaned = self._reading(message).cleaned
        return self.memo.get(("person", cleaned),
                             lambda: self.handoff.found_in(cleaned) or self.handoff_rules.first(cleaned))

    def _reading(self, message: str | Reading) -> Reading:
        return message if isinstance(message, Reading) else self.read(message)


def build_brain(kb: KnowledgeBase, memo_size: int = MEMO_SIZE) -> Brain:
    normalise = Normaliser(kb.synonyms)
    concepts = ConceptTagger(kb.concepts.topics, kb.concepts.aspects)
    matcher = Matcher({e.id: (e.examples, e.keywords) for e in kb.entries}, normalise,
                      features=lambda text: concepts.features(clean(text), normalise(text)))
    d = kb.danger
    # The FAQ's phrasings, the everyday replies the lexicon lists (好的, 谢谢, 取消, 更多), the ways
    # of asking for a person and the off-topic lines are calm examples too: a rider asking a
    # question, answering one or wanting a person is not in danger by those words alone (叫个人来
    # had scored 0.69 as violence, 一起吃宵夜啊 0.82 as medical).
    t = kb.triggers
    everyday = tuple(p.lstrip("=").replace("+", "") for p in (*t.greetings, *t.thanks, *t.more, *t.cancel,
                                                               *t.back_to_bot, *t.report, *t.case_status,
                                                               *t.handoff)) + tuple(kb.offtopic)
    # Messages are read with dialect words made standard (Brain.read); so are the examples.
    dialect = Normaliser(kb.dialect)
    model = trained_danger(tuple((kind, dialect(text)) for kind, text in d.examples),
                           tuple(dialect(text) for text in d.calm) + everyday +
                           tuple(text for e in kb.entries for text in e.examples))
    danger = DangerDetector(d.concepts, d.kinds, d.ignore, d.not_now, d.policy, d.now, d.severe, model, d.unhurt)
    docs = tuple((e.id, text) for e in kb.entries for text in (*e.examples, *e.keywords, e.title)) + \
        tuple((OFF_TOPIC, text) for text in kb.offtopic)
    classifier = trained(docs, tuple(sorted(kb.synonyms.items())),
                         tuple(sorted(kb.concepts.topics.items())))
    t = kb.triggers
    return Brain(kb=kb, pinyin=PinyinReader(_vocabulary(kb)), dialect=dialect,
                 new_subject=tuple(w for w in map(clean, kb.concepts.new_subject) if w), normalise=normalise, matcher=matcher, emergency=PhraseSet(t.emergency),
                 concepts=concepts, danger=danger, classifier=classifier,
                 handoff_rules=RuleSet(kb.concepts.handoff_rules, compile_concepts(kb.concepts.handoff_concepts)),
                 addressed_to_us=PhraseSet(kb.concepts.handoff_concepts.get(ADDRESSED_TO_US, ())),
                 handoff=PhraseSet(t.handoff), back_to_bot=PhraseSet(t.back_to_bot),
                 more=PhraseSet(t.more), greetings=PhraseSet(t.greetings), thanks=PhraseSet(t.thanks),
                 report=PhraseSet(t.report), case_status=PhraseSet(t.case_status), cancel=PhraseSet(t.cancel),
                 memo=Memo(memo_size))


def _vocabulary(kb: KnowledgeBase) -> list[str]:
    """The words a message typed in pinyin is read for, danger's first: every word the danger
    rules, the requests for a person, the concepts and the lexicon know (a rule's parts too)."""
    d, t, c = kb.danger, kb.triggers, kb.concepts
    phrases = [*d.ignore, *(w for words in d.concepts.values() for w in words),
               *(w for rules in d.kinds.values() for w in rules), *d.now,
               *t.emergency, *t.handoff, *(w for words in c.handoff_concepts.values() for w in words),
               *c.handoff_rules, *t.back_to_bot, *t.report, *t.case_status, *t.greetings, *t.thanks,
               *(w for words in c.topics.values() for w in words), *(w for words in c.aspects.values() for w in words),
               *kb.synonyms, *kb.synonyms.values()]
    return [part for phrase in phrases for part in re.split(r"[+|^=…]", phrase) if part]
