"""Everything built once from a loaded knowledge base: the matcher and the trigger phrases.
Swapped whole when the FAQ files change, so a message is always handled by one version."""
from __future__ import annotations

from dataclasses import dataclass

from intents import Matcher, Normaliser
from intents.triggers import PhraseSet
from knowledge import KnowledgeBase


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


def build_brain(kb: KnowledgeBase) -> Brain:
    normalise = Normaliser(kb.synonyms)
    matcher = Matcher({e.id: (e.examples, e.keywords) for e in kb.entries}, normalise)
    t = kb.triggers
    return Brain(kb=kb, normalise=normalise, matcher=matcher, emergency=PhraseSet(t.emergency),
                 handoff=PhraseSet(t.handoff), back_to_bot=PhraseSet(t.back_to_bot),
                 more=PhraseSet(t.more), greetings=PhraseSet(t.greetings), thanks=PhraseSet(t.thanks),
                 report=PhraseSet(t.report), case_status=PhraseSet(t.case_status), cancel=PhraseSet(t.cancel))
