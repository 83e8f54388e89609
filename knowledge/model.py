"""The knowledge base as frozen objects: what the loader produces and the rest of the bot reads."""
from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass, field
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

# Answers are plain text for WeChat: no HTML escaping here (the web pages escape on output),
# and an unknown variable is an error staff hear about from `gigdesk kb check`, not a blank.
# Sandboxed: the FAQ is edited through the console's browser form too, so a template must not
# reach Python's internals ({{ ''.__class__.__mro__ }} and the like).
TEMPLATES = SandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=False)
# Only the names we pass exist: jinja2's globals (range, lipsum, cycler, joiner, dict,
# namespace) are plain names too, and {{ lipsum }} sent riders a Python function's repr.
TEMPLATES.globals.clear()


@functools.lru_cache(maxsize=4096)
def compiled(source: str) -> jinja2.Template:
    """Compiling a template costs several times more than rendering it, and every answer is
    rendered per message: compile each source once (an edited FAQ brings new sources)."""
    return TEMPLATES.from_string(source)


@dataclass(frozen=True)
class Source:
    title: str
    date: str
    number: str = ""
    article: str = ""
    issuer: str = ""

    def cite(self) -> str:
        """Short form for the answer's last line: 《title》number article（date）."""
        name = self.number or f"《{self.title}》"
        return f"{name}{self.article}（{self.date}）"


@dataclass(frozen=True)
class Entry:
    id: str
    title: str
    examples: tuple[str, ...]
    answer: str  # jinja2 template source
    sources: tuple[Source, ...]
    reviewed: dt.date
    keywords: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    needs_human: bool = False
    offers_case: bool = False
    related: dict[str, str] = field(default_factory=dict)  # follow-up aspect (材料, 期限...) -> entry id
    file: str = ""
    line: int = 0


@dataclass(frozen=True)
class TriggerPhrases:
    """Phrases that route a message before the FAQ is consulted. A phrase written "A+B"
    matches when both A and B appear (e.g. 撞+流血)."""
    emergency: tuple[str, ...] = ()
    handoff: tuple[str, ...] = ()
    back_to_bot: tuple[str, ...] = ()
    more: tuple[str, ...] = ()
    greetings: tuple[str, ...] = ()
    thanks: tuple[str, ...] = ()
    report: tuple[str, ...] = ()  # the rider wants to record a help request
    case_status: tuple[str, ...] = ()  # the rider asks how their cases are going
    cancel: tuple[str, ...] = ()  # leaves the help-request questions


@dataclass(frozen=True)
class Concepts:
    """knowledge/concepts.yaml: topics and follow-up aspects, and the rules for asking for a person."""
    topics: dict[str, tuple[str, ...]] = field(default_factory=dict)
    aspects: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # Topics that say who the rider is (快递, 网约车, 众包): within a conversation they qualify
    # the subject (我是专送的 也有吗) rather than start a new one.
    rider_topics: tuple[str, ...] = ()
    # Topics that state the rider's situation (合同, 户口): within a conversation, a statement
    # naming only these (没合同, 本地户口, 签过一个劳务协议) is a fact for the topic under way.
    situation_topics: tuple[str, ...] = ()
    # Words that open a new subject (对了, 顺便问下, 另外): the message is read alone, not within
    # the conversation's topic.
    new_subject: tuple[str, ...] = ()
    handoff_concepts: dict[str, tuple[str, ...]] = field(default_factory=dict)
    handoff_rules: tuple[str, ...] = ()


@dataclass(frozen=True)
class DangerSpec:
    """knowledge/danger.yaml: what danger to life sounds like, by kind (see intents.danger)."""
    concepts: dict[str, tuple[str, ...]] = field(default_factory=dict)
    kinds: dict[str, tuple[str, ...]] = field(default_factory=dict)  # kind -> rules
    # kind -> the FAQ entry a rider's next question is read within (a crash: traffic-accident)
    about: dict[str, str] = field(default_factory=dict)
    ignore: tuple[str, ...] = ()
    not_now: tuple[str, ...] = ()
    policy: tuple[str, ...] = ()
    now: tuple[str, ...] = ()
    severe: tuple[str, ...] = ()
    unhurt: tuple[str, ...] = ()
    # knowledge/danger_examples.yaml: (kind, message) in danger, and calm look-alikes
    examples: tuple[tuple[str, str], ...] = ()
    calm: tuple[str, ...] = ()


@dataclass(frozen=True)
class CaseKind:
    """A kind of problem a rider can report (knowledge/cases.yaml)."""
    id: str
    title: str
    urgent: bool = False  # goes to the top and is escalated like an urgent conversation
    words: tuple[str, ...] = ()  # what a rider may type instead of the number
    topics: tuple[str, ...] = ()  # concepts (concepts.yaml) that name this kind: 工资+拖欠


@dataclass(frozen=True)
class KnowledgeBase:
    entries: tuple[Entry, ...]
    synonyms: dict[str, str]  # variant -> canonical word
    triggers: TriggerPhrases
    messages: dict[str, str]  # name -> jinja2 template source
    menu: dict[str, str]  # CLICK EventKey -> entry id
    case_kinds: tuple[CaseKind, ...] = ()
    platforms: tuple[str, ...] = ()  # canonical platform names (lexicon.yaml), which synonyms map to
    concepts: Concepts = field(default_factory=Concepts)
    danger: DangerSpec = field(default_factory=DangerSpec)
    offtopic: tuple[str, ...] = ()  # messages about nothing the FAQ covers (offtopic.yaml)
    # Dialect words (粤语 咗, 喺, 冇) -> the standard word, read so before every check (lexicon.yaml)
    dialect: dict[str, str] = field(default_factory=dict)
    _by_id: dict[str, Entry] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._by_id.update({e.id: e for e in self.entries})

    def entry(self, entry_id: str) -> Entry | None:
        return self._by_id.get(entry_id)

    def case_kind(self, kind_id: str | None) -> CaseKind | None:
        return next((k for k in self.case_kinds if k.id == kind_id), None)

    def render_answer(self, entry: Entry, context: dict[str, Any]) -> str:
        body = compiled(entry.answer).render(context).strip()
        cites = "；".join(s.cite() for s in entry.sources)
        return f"{body}\n依据：{cites}" if cites else body

    def render_message(self, name: str, context: dict[str, Any]) -> str:
        return compiled(self.messages[name]).render(context).strip()
