"""The replies several policies end in: an FAQ answer, an emergency, a handoff, "a person will
reply". Each returns the Decision; none writes."""
from __future__ import annotations

import dataclasses
import json

from bot.conversation.model import Decision, Reply, Turn, changing
from intents import decide
from intents.danger import KINDS as DANGER_KINDS, NUMBERS as DANGER_NUMBERS, Danger
from knowledge import Entry

CONTEXT_TEXT_CHARS = 80  # of the rider's own words kept to read a follow-up against
NEXT_STEPS = 3
# While waiting, the rider is reminded that a person will reply at most this often: once
# reassures, a reminder on every line of a long story is noise.
HOLDING_REPEAT_SECONDS = 600


def about(entry_id: str, words: str, now: float) -> str:
    """The conversation's context as stored: the entry it is about and the rider's words."""
    return json.dumps({"entry": entry_id, "text": words[-CONTEXT_TEXT_CHARS:], "at": now}, ensure_ascii=False)


def answer(turn: Turn, entry: Entry, score: float | None, outcome: str, asked: str = "",
           guess: bool = False) -> Decision:
    """The entry's answer, with its next steps as numbered choices. asked: the rider's words this
    answer was found for, kept so a follow-up can be read against them. guess: the bot is less
    sure (intents.Decision.guess), so the reply first says what it understood, and how to say
    it is not that."""
    shown = bool(turn.conversation["disclaimer_shown"])
    # The same for every rider for one version of the knowledge: rendered once, remembered.
    text, steps = turn.brain.memo.get(("answer", entry.id, shown, *turn.engine.context.items()),
                                      lambda: _answer_text(turn, entry, shown))
    if guess:
        text = turn.render("answer_guess", title=entry.title) + "\n" + text
    fields = {"misses": 0, "pending": None, "context": about(entry.id, asked or entry.title, turn.now)}
    if steps:
        fields["pending"] = {"choices": list(steps)}
    if not shown:
        fields["disclaimer_shown"] = 1
    return changing(Reply(text, outcome, entry.id, score, answered=entry.id), **fields)


def _answer_text(turn: Turn, entry: Entry, disclaimer_shown: bool) -> tuple[str, tuple[str, ...]]:
    kb = turn.brain.kb
    text = kb.render_answer(entry, turn.engine.context)
    if entry.needs_human:
        text += "\n" + turn.render("needs_human_hint")
    if entry.offers_case:
        text += "\n" + turn.render("case_offer")
    steps = [e for e in (kb.entry(i) for i in dict.fromkeys(entry.related.values()))
             if e and e.id != entry.id][:NEXT_STEPS]
    if steps:
        text += "\n\n" + turn.render("next_steps", steps=[e.title for e in steps])
    if not disclaimer_shown:
        text += "\n" + turn.render("disclaimer")
    return text, tuple(e.id for e in steps)


def emergency(turn: Turn, danger: Danger) -> Decision:
    """The right number first for each kind found (a crash with bleeding: 122 and 120); the
    conversation joins the queue as urgent."""
    brain, reading, now = turn.brain, turn.reading, turn.now
    # Where the message is also a clear FAQ question, its answer follows the numbers.
    candidates = brain.rank(reading)
    decided = decide(candidates, turn.engine.thresholds, names_a_topic=bool(reading.found.topics)).kind
    entry = brain.kb.entry(candidates[0].entry_id) if decided == "answer" else None
    # What it is about is kept, so the rider's next question (医药费谁出) is read within it:
    # the FAQ's best guess, or the entry danger.yaml names for the kind.
    topic = candidates[0].entry_id if decided != "fallback" and candidates else \
        next((brain.kb.danger.about[k] for k in danger.kinds if k in brain.kb.danger.about), "")
    # A caseworker who already has the conversation keeps it; otherwise it joins the queue.
    state = "assigned" if turn.state == "assigned" else "waiting"
    # An unfinished help request is kept: the rider can still complete it.
    fields = {"state": state, "reason": "urgent", "urgent": 1,
              "pending": {"intake": turn.intake} if turn.intake else None,
              "waiting_since": turn.conversation["waiting_since"] or now}
    if topic:
        fields["context"] = about(topic, reading.text, now)
    blocks = [turn.render(f"emergency_{kind}") for kind in DANGER_KINDS if kind in danger.kinds]
    text = "\n".join(blocks + [turn.render("emergency")]) + after_hours(turn)
    if entry is not None:
        text += "\n\n" + brain.kb.render_answer(entry, turn.engine.context)
    reply = Reply(text, "emergency", "emergency:" + "+".join(danger.kinds), answered=entry.id if entry else "")
    return changing(reply, **fields)


def still_in_danger(turn: Turn, decided: Decision) -> Decision:
    """The emergency of the last minutes may still be going on (turn.danger_under_way): its
    numbers come first again. A reply that answers something (医药费谁出, the nearest station)
    or says the rider is queued keeps that after them; "a person will reply", or nothing,
    becomes this emergency reply."""
    kinds = turn.danger_under_way
    numbers = "、".join(dict.fromkeys(n for kind in kinds for n in DANGER_NUMBERS.get(kind, ())))
    line = turn.render("still_in_danger", numbers=numbers)
    intent = "emergency:" + "+".join(kinds)
    reply = decided.reply
    if reply is None or reply.outcome == "holding":
        reply = Reply(line + after_hours(turn), "emergency", intent)
    elif reply.outcome == "handoff":  # asked for a person again: read as the danger, as a plea is
        reply = dataclasses.replace(reply, text=line + "\n" + reply.text, intent=intent)
    else:
        reply = dataclasses.replace(reply, text=line + "\n" + reply.text)
    return dataclasses.replace(decided, reply=reply)


def hand_off(turn: Turn, reason: str, plea: bool = False) -> Decision:
    """Queued for a person; a plea (有没有人能帮我) is urgent and gets the numbers too."""
    # A plea's intent says it was read as danger (kb eval, the console), its outcome that a
    # person was asked for: the reply does both.
    reply = turn.say("handoff", "handoff", intent="emergency:plea" if plea else "handoff")
    numbers = turn.render("emergency_plea") + "\n" if plea else ""  # the numbers come first
    reply = dataclasses.replace(reply, text=numbers + reply.text + after_hours(turn))
    return changing(reply, state="waiting", reason=reason, pending=None, waiting_since=turn.now,
                    escalated_at=None, held_at=None, **({"urgent": 1} if plea else {}))


def holding(turn: Turn) -> Decision:
    """While a caseworker has the conversation they answer; while it waits, the rider hears
    that a person will reply (and when, after hours), but not on every message."""
    held_at = turn.conversation["held_at"]
    if turn.state == "assigned" or (held_at and turn.now - held_at < HOLDING_REPEAT_SECONDS):
        return Decision(None)
    reply = turn.say("holding", "holding")
    return changing(dataclasses.replace(reply, text=reply.text + after_hours(turn)), held_at=turn.now)


def after_hours(turn: Turn) -> str:
    """Outside office hours, when a person will be back; empty while someone is on duty."""
    office_hours = turn.engine.office_hours
    if office_hours is None or office_hours.is_open(turn.now):
        return ""
    return "\n" + turn.render("after_hours", office_hours=office_hours.describe(),
                              next_open=office_hours.describe_next(turn.now))
