"""Answers to what the bot asked: a number from a menu (1, 二), a yes to "did you mean", and
"更多" for the rest of a long answer."""
from __future__ import annotations

from bot.conversation.model import Decision, Reply, Turn, changing
from bot.conversation.outcomes import answer
from knowledge import Entry

CHINESE_DIGITS = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5}
YES = {"是", "是的", "对", "对的", "对啊", "是啊", "嗯", "嗯嗯", "恩", "好", "要", "没错", "可以", "1", "yes", "y", "ok"}


def decide(turn: Turn) -> Decision | None:
    if entry := chosen(turn):
        return answer(turn, entry, None, "chosen", turn.inbound.text)
    if turn.brain.more.is_whole(turn.cleaned):
        return next_part(turn)
    return None


def chosen(turn: Turn) -> Entry | None:
    """The entry the rider picked from the last menu, or said yes to."""
    cleaned, pending, kb = turn.cleaned, turn.pending, turn.brain.kb
    choices = pending.get("choices") or []
    number = CHINESE_DIGITS.get(cleaned) or (int(cleaned) if cleaned.isdigit() and len(cleaned) < 3 else 0)
    if 1 <= number <= len(choices) and (entry := kb.entry(choices[number - 1])):
        return entry
    if pending.get("confirm") and (cleaned in YES or cleaned.rstrip("啊呀的哦") in YES):
        return kb.entry(pending["confirm"])
    return None


def next_part(turn: Turn) -> Decision:
    parts = turn.pending.get("parts") or []
    if not parts:
        return Decision(turn.say("no_more", "more"))
    text = parts[0] + ("\n" + turn.render("more_hint") if len(parts) > 1 else "")
    return changing(Reply(text, "more", "more"), pending={**turn.pending, "parts": parts[1:]})
