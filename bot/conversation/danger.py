"""Danger to life comes first, in every state: the right emergency number, then the queue."""
from __future__ import annotations

from bot.conversation.followup import PLACE_ASPECT
from bot.conversation.model import WITH_A_PERSON, Decision, Turn
from bot.conversation.outcomes import emergency, hand_off
from bot.stations_desk import open_station_question
from intents.danger import KINDS, NONE, Danger
from intents.plea_shape import plea_shape


def decide(turn: Turn) -> Decision | None:
    brain, reading = turn.brain, turn.reading
    danger = brain.danger_in(reading)
    if danger.learned and turn.context and _asks_about_the_topic(turn):
        # 面包车 在长沙, 他在成都跑 我在老家, 过了就没办法了？: within a topic, where the rider
        # is or works, or a follow-up on it (how long, what it costs), which the learned model
        # half-likes (danger's examples say where and 没办法 too). The rules still count.
        danger = NONE
    if (not danger or danger.learned) and _opens_the_conversation(turn) and \
            (shape := plea_shape(reading.text, reading.cleaned, bool(reading.found.topics),
                                PLACE_ASPECT in reading.found.aspects)):
        # 13812345678 打给我, 叔我被, 我在天府三街. Beside the learned model's guess of a kind
        # (帮我 人民路和解放路路口 looks like a crash to it), the plea's 110 as well.
        kinds = tuple(kind for kind in KINDS if kind in danger.kinds or kind == "plea")
        danger = Danger(kinds, shape, learned=False)
    if danger.kinds == ("plea",) and turn.state not in WITH_A_PERSON and brain.asks_for_a_person(reading):
        # 有没有人能帮我 真人, 回电话 159…: a plea that asks for a person is handed to one,
        # urgently, after the numbers. Said either way (as danger or as asking for a person) it
        # gets what both need.
        return hand_off(turn, "urgent", plea=True)
    if danger:
        return emergency(turn, danger)
    return None


# Follow-ups that ask about the topic rather than what to do now (怎么办 is said in danger too).
TOPIC_ASPECTS = {PLACE_ASPECT, "期限", "费用", "材料"}


def _asks_about_the_topic(turn: Turn) -> bool:
    return bool(turn.reading.found.aspects & TOPIC_ASPECTS) or turn.names_a_platform


def _opens_the_conversation(turn: Turn) -> bool:
    """Nothing is under way: no topic of the last half hour (a question asked back keeps one
    too), no help request, no yes/no question, no person. Only then can a bare number, a place
    or 叔我被 be a plea rather than an answer to the bot. (A menu of next steps left from an
    hour ago does not count: a number or a place is not its choice.)"""
    return turn.state == "bot" and not turn.context and not turn.intake and "confirm" not in turn.pending \
        and not _asked_where(turn)


def _asked_where(turn: Turn) -> bool:
    """The station desk asked where the rider is, or answered where they said, in the last half
    hour (附近驿站 -> 静安区): a place now is the answer, not a plea."""
    return bool(open_station_question(turn.pending, turn.now))
