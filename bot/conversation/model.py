"""What the conversation engine works with: the message in (Inbound), one Turn that every
policy reads, and what a policy decides (Decision: the reply and the Changes to store).

A policy never writes: it returns the changes as data, and bot/conversation/apply.py is the
one place that stores them. So the decision needs no lock, and a policy can be tested alone."""
from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from bot.brain import Brain, Reading

if TYPE_CHECKING:
    from bot.conversation.engine import Engine
    from storage import Store

# What the conversation is about is kept this long after the last answer: a follow-up
# ("那要什么材料") comes within minutes; after half an hour a short message is a new question.
CONTEXT_SECONDS = 1800
# After an emergency reply, while the rider still waits for a person, every reply repeats the
# kind's number first for this long: the next messages (手机快没电了, 他还在楼下) are mostly the
# same danger going on, said without its words.
DANGER_UNDER_WAY_SECONDS = 900
# While a person has (or is about to take) the conversation, the bot does not answer.
WITH_A_PERSON = ("waiting", "assigned")


@dataclass(frozen=True)
class Inbound:
    channel: str  # "wechat" | "web"
    openid: str
    kind: str  # text | voice | image | video | shortvideo | link | location | event | unknown
    received_at: float
    text: str = ""  # the text, or a voice message's speech recognition
    event: str = ""  # subscribe | unsubscribe | click | scan | view | location | ...
    event_key: str = ""
    media_id: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Reply:
    text: str
    outcome: str  # answer | clarify | fallback | handoff | emergency | greeting | ...
    intent: str = ""
    score: float | None = None
    message_id: int | None = None
    answered: str = ""  # the FAQ entry whose answer the reply gives (also after an emergency's numbers)


@dataclass(frozen=True)
class Unanswered:
    """A message the bot asked back about or could not answer, for staff to review."""
    text: str
    normalised: str
    kind: str  # clarify | fallback
    top_entry: str | None
    top_score: float | None


@dataclass(frozen=True)
class NewCase:
    """A finished help request: stored as a case; the reply can only name its number then."""
    answers: Mapping[str, Any]
    urgent: bool
    evidence: tuple[Mapping[str, Any], ...]
    announce: Callable[[str], str]  # the case number -> the reply's text


@dataclass(frozen=True)
class Changes:
    conversation: Mapping[str, Any] = field(default_factory=dict)  # fields for Store.update_conversation
    subscribed: bool | None = None
    privacy_noticed: bool = False
    unanswered: Unanswered | None = None
    case: NewCase | None = None

    def then(self, later: Changes) -> Changes:
        """These changes followed by later ones: a field set by both takes the later value."""
        return Changes({**self.conversation, **later.conversation},
                       self.subscribed if later.subscribed is None else later.subscribed,
                       self.privacy_noticed or later.privacy_noticed,
                       later.unanswered or self.unanswered, later.case or self.case)


@dataclass(frozen=True)
class Decision:
    reply: Reply | None  # None: nothing is said (WeChat gets "success")
    changes: Changes = field(default_factory=Changes)


def changing(reply: Reply | None, **conversation: Any) -> Decision:
    """A decision that sets some of the conversation's fields."""
    return Decision(reply, Changes(conversation))


@dataclass(frozen=True)
class Turn:
    """One message being decided: what every policy reads. The text is cleaned and tagged once
    (reading), the conversation's pending state and context are parsed once."""
    inbound: Inbound
    conversation: Mapping[str, Any]
    engine: Engine  # the fixed parts: templates, thresholds, office hours, the station desk
    brain: Brain  # one version of the knowledge for the whole message
    store: Store  # for reading only (a rider's cases, the station directory)

    @property
    def now(self) -> float:
        return self.inbound.received_at

    @property
    def state(self) -> str:
        return self.conversation["state"]

    @property
    def has_text(self) -> bool:
        kind = self.inbound.kind
        return kind == "text" or (kind == "voice" and bool(self.inbound.text.strip()))

    @cached_property
    def reading(self) -> Reading:
        return self.brain.read(self.inbound.text)

    @property
    def cleaned(self) -> str:
        return self.reading.cleaned

    @property
    def names_a_platform(self) -> bool:
        """美团, 滴滴: where the rider works, said in this message."""
        return any(p in self.reading.normalised for p in self.brain.kb.platforms)

    @cached_property
    def pending(self) -> dict[str, Any]:
        pending = json.loads(self.conversation["pending"] or "{}")
        return pending if isinstance(pending, dict) else {}

    @cached_property
    def intake(self) -> dict[str, Any] | None:
        return self.pending.get("intake")

    @cached_property
    def context(self) -> dict[str, Any]:
        """What the conversation is about, while it is fresh: {} when there is nothing, or when
        the message opens a new subject (对了 / 顺便问下 ...)."""
        if self.has_text and self.brain.opens_new_subject(self.reading):
            return {}
        context = json.loads(self.conversation.get("context") or "{}")
        fresh = isinstance(context, dict) and context.get("entry") and \
            self.now - context.get("at", 0) <= CONTEXT_SECONDS
        return context if fresh else {}

    @cached_property
    def danger_under_way(self) -> tuple[str, ...]:
        """The danger kinds of the emergency reply of the last DANGER_UNDER_WAY_SECONDS, while
        the conversation waits for a person; () when there was none."""
        if self.state != "waiting" or not self.conversation.get("urgent"):
            return ()
        intent = self.store.last_emergency(self.conversation["id"], self.now - DANGER_UNDER_WAY_SECONDS)
        return tuple(intent.removeprefix("emergency:").split("+")) if intent else ()

    def render(self, name: str, **extra: Any) -> str:
        """A system message from messages.yaml."""
        return self.brain.kb.render_message(name, {**self.engine.context, **extra})

    def say(self, name: str, outcome: str, intent: str = "", score: float | None = None, **extra: Any) -> Reply:
        return Reply(self.render(name, **extra), outcome, intent or outcome, score)
