"""Handoff: a rider who asks for a person in any wording is queued for one; while a person has
(or is about to take) the conversation, the bot steps back."""
from __future__ import annotations

import dataclasses

from bot.conversation import faq, stations
from bot.conversation.model import WITH_A_PERSON, Decision, Turn, changing
from bot.conversation.outcomes import hand_off, holding, still_in_danger


# A request for a person inside a question this long that the FAQ answers outright, with no
# word saying it is ours that is wanted (你们, 工会的, 联系我: concepts.yaml's 找我们), is about
# someone else's staff (客服一直转人工转不到 押金怎么退, 站长让我去监察大队当面投诉 能网上投吗):
# the answer comes first, and how to reach a person follows it.
QUESTION_CHARS = 24


def asked(turn: Turn) -> Decision | None:
    if not turn.brain.asks_for_a_person(turn.reading):
        return None
    if (answered := _a_question_mentioning_a_person(turn)) is not None:
        return answered
    return hand_off(turn, "asked")


def _a_question_mentioning_a_person(turn: Turn) -> Decision | None:
    if len(turn.cleaned) < QUESTION_CHARS or not turn.reading.found.topics or \
            turn.brain.addressed_to_us.found_in(turn.cleaned):
        return None
    decided = faq.sure(turn)
    if decided is None or decided.reply is None or decided.reply.outcome != "answer":
        return None
    hint = "\n" + turn.render("person_if_wanted")
    return dataclasses.replace(decided, reply=dataclasses.replace(decided.reply, text=decided.reply.text + hint))


def with_a_person(turn: Turn) -> Decision | None:
    if turn.state not in WITH_A_PERSON:
        return None
    if turn.brain.back_to_bot.found_in(turn.cleaned):
        return changing(turn.say("back_to_bot", "back_to_bot"), state="closed", closed_at=turn.now)
    decided = _while_with_a_person(turn)
    return still_in_danger(turn, decided) if turn.danger_under_way else decided


def _while_with_a_person(turn: Turn) -> Decision:
    brain = turn.brain
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
