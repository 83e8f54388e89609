"""Danger to life, recognised from concepts (who did what, what state a person is in) rather
than from whole phrases, and by kind, so each kind gets its own emergency number. Built from
knowledge/danger.yaml; pure code, no I/O.

Recall comes first: a false alarm costs a caseworker a minute, a miss can cost a life. The
only things that keep a match from counting are (1) figures of speech removed before looking
(热死了, 打电话), and (2) a message about the past, a film or a policy question (上个月被车撞了
能赔吗), unless it also says something is happening now or names a grave state (叫不醒,
喘不上气). Self-harm and a plea for help are never set aside by (2)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from intents.danger_model import THRESHOLD, DangerModel
from intents.patterns import compile_words
from intents.rules import RuleSet, compile_concepts

KINDS = ("violence", "fire", "trapped", "traffic", "medical", "selfharm", "plea")  # the order replies list them in
ALWAYS_NOW = ("selfharm", "plea")
# The numbers each kind's reply must give (../shared/policy-facts.md §9): `kb check` holds the
# messages to them, and the evaluation counts a reply right only with them.
NUMBERS = {"violence": ("110",), "medical": ("120",), "traffic": ("122", "120"), "fire": ("119",),
           "trapped": ("119",), "selfharm": ("120", "12356"), "plea": ("110",)}
MASK = "｜"  # put where an ignored phrase was, so the words around it do not join up


@dataclass(frozen=True)
class Danger:
    kinds: tuple[str, ...]  # in KINDS order; empty: no danger found
    evidence: str = ""  # the rule that fired first, for the console and `gigdesk chat -v`
    learned: bool = False  # no rule fired: the learned model alone found it

    def __bool__(self) -> bool:
        return bool(self.kinds)


NONE = Danger(())


class DangerDetector:
    def __init__(self, concepts: Mapping[str, Sequence[str]], kinds: Mapping[str, Sequence[str]],
                 ignore: Sequence[str] = (), not_now: Sequence[str] = (), policy: Sequence[str] = (),
                 now: Sequence[str] = (), severe: Sequence[str] = (), model: DangerModel | None = None,
                 unhurt: Sequence[str] = ()):
        """model: the learned second opinion, consulted where no rule fired. unhurt: the rider
        says nobody was hurt (还好没事, 人没事): a near miss, even one that just happened."""
        self._model = model
        compiled = compile_concepts(concepts)
        self._rules = {kind: RuleSet(kinds.get(kind, ()), compiled) for kind in KINDS}
        self._ignore = compile_words(ignore)
        self._not_now = compile_words([*not_now, *policy])
        self._now = compile_words(now)
        self._severe = [compiled[name] for name in severe if compiled.get(name)]
        self._unhurt = compile_words(unhurt)

    def without_figures(self, cleaned: str) -> str:
        """The message with figures of speech and everyday phrases (热死了, 打电话) masked."""
        return self._ignore.sub(MASK, cleaned) if self._ignore else cleaned

    def detect(self, cleaned: str, names_a_topic: bool = False) -> Danger:
        """The kinds of danger in an already cleaned message. names_a_topic: the message is
        also about something the FAQ covers (帮帮我 工资被拖欠), so a bare plea does not count."""
        text = self.without_figures(cleaned)
        if not text.strip(MASK):
            return NONE
        fired = [(kind, source) for kind in KINDS
                 if (source := self._rules[kind].first(text, names_a_topic)) is not None]
        learned = False
        if not fired and self._model is not None:
            probability, kind = self._model.assess(text)
            if probability >= THRESHOLD:
                fired, learned = [(kind, f"例句模型 {probability:.2f}")], True
        # A plea with a work problem named (快来人管管 这平台乱扣钱, sos 帐号冻结了) is a plea for
        # help with that problem, not a bare plea: the FAQ answers it. With a danger of another
        # kind (救命 被车撞了) it still counts.
        if names_a_topic and [kind for kind, _ in fired] == ["plea"]:
            return NONE
        if not fired:
            return NONE
        if self.set_aside(text):
            fired = [(kind, source) for kind, source in fired if kind in ALWAYS_NOW]
        elif self._unhurt is not None and self._unhurt.search(text) and not self._is_severe(text):
            # 刚才差点被车撞 还好没事: "just now", but nobody is hurt. A person who is a threat
            # (violence) is still there, and a plea or self-harm always counts.
            fired = [(kind, source) for kind, source in fired if kind in (*ALWAYS_NOW, "violence")]
        if not fired:
            return NONE
        return Danger(tuple(kind for kind, _ in fired), fired[0][1], learned)

    def set_aside(self, text: str) -> bool:
        """About the past, a story or a policy question, with nothing happening now."""
        if self._not_now is None or not self._not_now.search(text):
            return False
        if self._now is not None and self._now.search(text):
            return False
        return not self._is_severe(text)

    def _is_severe(self, text: str) -> bool:
        return any(p.search(text) for p in self._severe)
