"""Help requests from the chat: "查进度" (or a case number) lists the rider's cases; "我要反映"
starts an intake with what the conversation already told."""
from __future__ import annotations

from bot.conversation import intake
from bot.conversation.model import Decision, Turn


def status(turn: Turn) -> Decision | None:
    if turn.brain.case_status.found_in(turn.cleaned) or intake.CASE_NUMBER.search(turn.inbound.text):
        return intake.status(turn)
    return None


def report(turn: Turn) -> Decision | None:
    if turn.brain.report.found_in(turn.cleaned):
        return intake.start(turn, turn.inbound.text, turn.context.get("text", ""))
    return None
