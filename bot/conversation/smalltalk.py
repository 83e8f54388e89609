"""Greetings, thanks and a lone interjection get a short reply, not an FAQ menu."""
from __future__ import annotations

from bot.conversation.model import Decision, Turn

INTERJECTION_CHARS = 2  # a message this short that names nothing (啊, 嗯嗯, ？？) gets a short prompt


def decide(turn: Turn) -> Decision | None:
    cleaned, brain = turn.cleaned, turn.brain
    if not cleaned or brain.greetings.is_whole(cleaned):
        return Decision(turn.say("greeting", "greeting"))
    if brain.thanks.is_whole(cleaned):
        return Decision(turn.say("thanks", "thanks"))
    found = turn.reading.found
    if len(cleaned) <= INTERJECTION_CHARS and not (found.topics or found.aspects) and not _names_a_platform(turn):
        return Decision(turn.say("interjection", "interjection"))
    return None


def _names_a_platform(turn: Turn) -> bool:
    """美团, 滴滴: within a conversation, the rider saying where they work (a follow-up)."""
    return bool(turn.context) and any(p in turn.reading.normalised for p in turn.brain.kb.platforms)
