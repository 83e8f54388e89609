"""A question answered from the FAQ: outright when the bot is sure (within the conversation's
topic for a follow-up, see followup.py), else asked back (one yes/no or a short menu), else a
fallback that offers a person after repeated misses."""
from __future__ import annotations

from bot.conversation import choices, followup
from bot.conversation.model import Changes, Decision, Turn, Unanswered
from bot.conversation.outcomes import about, answer
from intents import decide as decide_kind

MISSES_BEFORE_OFFERING_A_PERSON = 2
# Within a conversation a short message without a topic (几点开门, 咋参加) is far more often a
# follow-up than off-topic: it is taken as off-topic only when the classifier is this sure
# (real off-topic lines score 0.8-0.9, follow-ups 0.1-0.45 on the development sets).
OFF_TOPIC_IN_CONTEXT = 0.6


def decide(turn: Turn) -> Decision:
    brain, reading, now = turn.brain, turn.reading, turn.now
    candidates = rank(turn)
    decision = decide_kind(candidates, turn.engine.thresholds, names_a_topic=bool(reading.found.topics))
    if sure := followup.sure_answer(turn, candidates, decision):
        entry, score, outcome, asked, guess = sure
        return answer(turn, entry, score, outcome, asked, guess)
    top = candidates[0] if candidates else None
    # A yes/no question is asking back too: staff review it with the other clarify questions.
    unanswered = Changes(unanswered=Unanswered(reading.text, reading.normalised,
                                               "clarify" if decision.kind == "confirm" else decision.kind,
                                               top.entry_id if top else None, top.score if top else None))
    # Asking back still tells what the conversation is probably about, for a follow-up.
    probable_context = about(top.entry_id, reading.text, now) if top and decision.kind in ("confirm", "clarify") else None
    if decision.kind == "confirm":
        reply = turn.say("confirm", "clarify", intent=top.entry_id, score=top.score,
                         title=brain.kb.entry(top.entry_id).title)
        return Decision(reply, unanswered.then(Changes({"pending": {"confirm": top.entry_id}, "context": probable_context})))
    if decision.kind == "clarify":
        ids = [c.entry_id for c in decision.candidates]
        reply = turn.say("clarify", "clarify", intent=top.entry_id, score=top.score,
                         titles=[brain.kb.entry(i).title for i in ids])
        return Decision(reply, unanswered.then(Changes({"pending": {"choices": ids}, "context": probable_context})))
    misses = (turn.conversation["misses"] or 0) + 1
    name = "fallback_offer_human" if misses >= MISSES_BEFORE_OFFERING_A_PERSON else "fallback"
    reply = turn.say(name, "fallback", intent=top.entry_id if top else "", score=top.score if top else None)
    return Decision(reply, unanswered.then(Changes({"misses": misses, "pending": None})))


def sure(turn: Turn) -> Decision | None:
    """The answer when the bot is sure of one (a menu number included), else None: for a rider
    waiting for a person, who gets only what is sure."""
    if entry := choices.chosen(turn):
        return answer(turn, entry, None, "chosen", turn.inbound.text)
    candidates = rank(turn)
    decision = decide_kind(candidates, turn.engine.thresholds, names_a_topic=bool(turn.reading.found.topics))
    if found := followup.sure_answer(turn, candidates, decision):
        entry, score, outcome, asked, guess = found
        return answer(turn, entry, score, outcome, asked, guess)
    return None


def rank(turn: Turn) -> list:
    floor = OFF_TOPIC_IN_CONTEXT if turn.context else 0.0
    return turn.brain.rank(turn.reading, off_topic_floor=floor)
