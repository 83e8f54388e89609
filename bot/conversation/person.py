"""Handoff: a rider who asks for a person in any wording is queued for one; while a person has
(or is about to take) the conversation, the bot steps back."""
from __future__ import annotations

import dataclasses

from bot.conversation import faq, stations
from bot.conversation.model import WITH_A_PERSON, Decision, Turn, changing
from bot.conversation.outcomes import hand_off, holding


def asked(turn: Turn) -> Decision | None:
    if turn.brain.asks_for_a_person(turn.reading):
        return hand_off(turn, "asked")
    return None


def with_a_person(turn: Turn) -> Decision | None:
    if turn.state not in WITH_A_PERSON:
        return None
    brain = turn.brain
    if brain.back_to_bot.found_in(turn.cleaned):
        return changing(turn.say("back_to_bot", "back_to_bot"), state="closed", closed_at=turn.now)
    waiting = turn.state == "waiting"
    # Asked again in other words (找个真人跟我说): told it is done, not answered as a question.
    if waiting and brain.asks_for_a_person(turn.reading):
        return Decision(turn.say("handoff_queued", "handoff", intent="handoff"))
    if waiting and (found := stations.find(turn)):
        return found
    if waiting and turn.cleaned and (answered := _while_waiting(turn)):
        return answered
    return holding(turn)


def _while_waiting(turn: Turn) -> Decision | None:
    """A rider waiting for a person still gets what the bot is sure of, and is told the person
    will still reply: after a 转人工 or an emergency riders go on asking (要留啥证据, 医药费谁出),
    and a bare "please wait" left them with nothing. Only while waiting: once a caseworker holds
    the conversation, they answer."""
    decided = faq.sure(turn)
    if decided is None:
        return None
    still = "\n" + turn.render("still_waiting")
    return dataclasses.replace(decided, reply=dataclasses.replace(decided.reply, text=decided.reply.text + still))
