"""Danger to life comes first, in every state: the right emergency number, then the queue."""
from __future__ import annotations

from bot.conversation.model import WITH_A_PERSON, Decision, Turn
from bot.conversation.outcomes import emergency, hand_off


def decide(turn: Turn) -> Decision | None:
    brain, reading = turn.brain, turn.reading
    danger = brain.danger_in(reading)
    if danger.kinds == ("plea",) and turn.state not in WITH_A_PERSON and brain.asks_for_a_person(reading):
        # 有没有人能帮我 真人, 有没有活人在线 急: a plea that asks for a person is handed to one,
        # urgently, after the numbers. Said either way (as danger or as asking for a person) it
        # gets what both need.
        return hand_off(turn, "urgent", plea=True)
    if danger:
        return emergency(turn, danger)
    return None
