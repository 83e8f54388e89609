"""Danger to life comes first, in every state: the right emergency number, then the queue."""
from __future__ import annotations

from bot.conversation.model import WITH_A_PERSON, Decision, Turn
from bot.conversation.outcomes import emergency, hand_off
from intents.danger import urgent_plea


def decide(turn: Turn) -> Decision | None:
    brain, reading = turn.brain, turn.reading
    danger = brain.danger_in(reading)
    if danger.kinds == ("plea",) and turn.state not in WITH_A_PERSON and \
            not urgent_plea(reading.cleaned) and brain.asks_for_a_person(reading):
        # 有没有人能帮我 真人: a plea that asks for a person is handed to one, urgently, with the numbers.
        return hand_off(turn, "urgent", plea=True)
    if danger:
        return emergency(turn, danger)
    return None
