"""Help-request intake: a rider records a problem one question at a time and gets a case
number; "查进度" lists their cases.

The state lives in the conversation's pending JSON under "intake", so an intake survives a
restart; one left for a day expires. Images and voice sent during the intake are attached to
the case as evidence. Like every policy it only decides: the new state, and the case once the
last question is answered, are returned as Changes."""
from __future__ import annotations

import copy
import re
import time
from typing import Any

from bot.conversation.model import Changes, Decision, NewCase, Reply, Turn
from bot.conversation.outcomes import emergency
from intents.normalise import clean

STEPS = ("kind", "platform", "city", "when", "story", "phone", "evidence")
FIELD = {"platform": "platform", "city": "city", "when": "happened", "story": "story", "phone": "phone"}
EXPIRES_AFTER = 24 * 3600
SKIP = {"跳过", "不想说", "不知道", "不记得", "没有", "无", "不留", "不用", "没", "算了吧", "不清楚"}
DONE = {"好了", "完成", "发完了", "没有了", "没有", "就这些", "好", "没了", "无", "跳过", "不用", "完了"}
MOBILE = re.compile(r"(?:\+?86)?(1[3-9]\d{9})")
LANDLINE = re.compile(r"0\d{2,3}\d{7,8}")
CASE_NUMBER = re.compile(r"GH-?\d{4}-?\d{4}", re.IGNORECASE)
EVIDENCE_KINDS = ("image", "voice", "video", "shortvideo")
MAX_ANSWER = 1000  # characters kept of one answer
STATUS_WORDS = {"new": "已收到，等待工作人员查看", "accepted": "已受理", "in_progress": "正在处理",
                "referred": "已转给相关部门", "resolved": "已解决", "closed": "已结束"}
# Evidence is recorded before the message has its row: apply.py fills in the id.
THIS_MESSAGE = None


# --- the policies ------------------------------------------------------------------------------
def expired(turn: Turn) -> bool:
    return bool(turn.intake) and turn.now - turn.intake.get("updated_at", 0) > EXPIRES_AFTER


def continue_intake(turn: Turn) -> Decision | None:
    """Within an intake: danger still comes first; media are evidence; text answers."""
    intake = turn.intake
    if not intake or turn.inbound.kind == "event":
        return None
    inbound = turn.inbound
    attached = Changes()
    if inbound.kind in EVIDENCE_KINDS and inbound.media_id:
        attached_decision, intake = attach(turn, intake)
        if not (inbound.kind == "voice" and inbound.text.strip()):
            return attached_decision
        attached = attached_decision.changes
    if not inbound.text.strip():
        return Decision(Reply(question(turn, intake["step"]), "intake", "intake"))
    if danger := turn.brain.danger_in(turn.reading):
        return emergency(turn, danger)
    decided = answer(turn, intake, inbound.text)
    return Decision(decided.reply, attached.then(decided.changes))


def start(turn: Turn, said: str = "", earlier: str = "") -> Decision:
    """said: the message that asked to record (我要反映 站点拖欠工资); earlier: what the
    conversation was about. What they already tell (the kind, the platform) is filled in
    and shown, not asked again."""
    answers = _known(turn, said) or _known(turn, earlier)
    intake: dict[str, Any] = {"step": "kind", "answers": answers, "evidence": [], "started_at": turn.now}
    intake["step"] = _next_step(intake, None)
    text = question(turn, intake["step"])
    if answers:
        text = turn.render("intake_known", known=_describe(turn, answers)) + "\n" + text
    rider = turn.store.rider(turn.conversation["rider_id"]) or {}
    noticed = not rider.get("privacy_noticed_at")
    if noticed:  # told once, before the first personal detail
        text = turn.render("intake_privacy") + "\n\n" + text
    return Decision(Reply(text, "intake", "intake"), _saved(turn, intake).then(Changes(privacy_noticed=noticed)))


def answer(turn: Turn, intake: dict[str, Any], text: str) -> Decision:
    intake = copy.deepcopy(intake)
    cleaned = clean(text)
    if turn.brain.cancel.is_whole(cleaned):
        return Decision(Reply(turn.render("intake_cancelled"), "intake_cancelled", "intake"), _saved(turn, None))
    step = intake["step"]
    value, problem = _value(turn, step, text.strip()[:MAX_ANSWER], cleaned)
    if problem:
        return Decision(Reply(problem, "intake", "intake"))
    if step == "evidence":
        return _finish(turn, intake)
    if value is not None:
        intake["answers"][FIELD.get(step, step)] = value
    intake["step"] = _next_step(intake, step)
    return Decision(Reply(question(turn, intake["step"]), "intake", "intake"), _saved(turn, intake))


def attach(turn: Turn, intake: dict[str, Any]) -> tuple[Decision, dict[str, Any]]:
    """This message's media as evidence; also the intake as it is then."""
    intake = copy.deepcopy(intake)
    inbound = turn.inbound
    intake["evidence"].append({"message_id": THIS_MESSAGE, "kind": inbound.kind, "media_id": inbound.media_id})
    text = turn.render("intake_evidence_received", count=len(intake["evidence"]))
    if intake["step"] != "evidence":  # keep the rider on the question they were answering
        text += "\n\n" + question(turn, intake["step"])
    return Decision(Reply(text, "intake", "intake"), _saved(turn, intake)), intake


def status(turn: Turn) -> Decision:
    """Only this rider's cases, whatever number they typed."""
    cases = turn.store.rider_cases(turn.conversation["rider_id"])
    if not cases:
        return Decision(turn.say("case_none", "case_status"))
    rows = [{"number": c["number"], "kind": _kind_title(turn, c["kind"]),
             "status": STATUS_WORDS.get(c["status"], c["status"]),
             "updated": time.strftime("%m月%d日", time.localtime(c["updated_at"])).lstrip("0")}
            for c in cases[:5]]
    return Decision(turn.say("case_status", "case_status", cases=rows))


def question(turn: Turn, step: str) -> str:
    if step == "kind":
        return turn.render("intake_kind", kinds=[k.title for k in turn.brain.kb.case_kinds])
    return turn.render(f"intake_{step}")


def with_message_id(pending: Any, message_id: int) -> Any:
    """The pending state with this message's id in the evidence recorded before it had one."""
    intake = pending.get("intake") if isinstance(pending, dict) else None
    if not intake:
        return pending
    evidence = [{**item, "message_id": message_id} if item["message_id"] is THIS_MESSAGE else item
                for item in intake["evidence"]]
    return {**pending, "intake": {**intake, "evidence": evidence}}


# --- helpers -----------------------------------------------------------------------------------
def _known(turn: Turn, text: str) -> dict[str, Any]:
    """The kind and platform a message states, as intake answers."""
    if not text.strip():
        return {}
    known: dict[str, Any] = {}
    if (kind := _kind_in_words(turn, text)) is not None:
        known["kind"] = kind
    normalised = turn.brain.normalise(text)
    if platform := next((p for p in turn.brain.kb.platforms if p in normalised), None):
        known["platform"] = platform
    return known


def _describe(turn: Turn, answers: dict[str, Any]) -> list[str]:
    parts = []
    if "kind" in answers:
        parts.append("类型：" + _kind_title(turn, answers["kind"]))
    if "platform" in answers:
        parts.append("平台：" + answers["platform"])
    return parts


def _next_step(intake: dict[str, Any], after: str | None) -> str:
    """The next question whose answer is not known yet."""
    begin = 0 if after is None else STEPS.index(after) + 1
    for step in STEPS[begin:]:
        if FIELD.get(step, step) not in intake["answers"]:
            return step
    return STEPS[-1]


def _value(turn: Turn, step: str, text: str, cleaned: str) -> tuple[Any, str | None]:
    """The answer to keep (None: skipped) or the reason to ask again."""
    if step == "kind":
        kind = _kind(turn, cleaned)
        if kind is None:
            return None, "没看懂是哪一类，请回复数字。\n" + question(turn, "kind")
        return kind, None
    if step == "evidence":
        return None, None if cleaned in DONE else turn.render("intake_evidence")
    if cleaned in SKIP:
        if step == "story":
            return None, "这一项需要你说一说，工作人员才知道怎么帮你。\n" + question(turn, "story")
        return None, None
    if step == "phone":
        digits = re.sub(r"[\s\-()（）]", "", text)
        match = MOBILE.fullmatch(digits) or LANDLINE.fullmatch(digits)
        if not match:
            return None, turn.render("intake_phone_invalid")
        return match.group(match.lastindex or 0), None
    if step == "story" and len(cleaned) < 2:
        return None, question(turn, "story")
    return text, None


def _kind(turn: Turn, cleaned: str) -> str | None:
    kinds = turn.brain.kb.case_kinds
    if cleaned.isdigit() and 1 <= int(cleaned) <= len(kinds):
        return kinds[int(cleaned) - 1].id
    if cleaned in SKIP:
        return "other" if turn.brain.kb.case_kind("other") else None
    return _kind_in_words(turn, cleaned)


def _kind_in_words(turn: Turn, text: str) -> str | None:
    """The kind a rider names in words: its title, one of its words, or its concepts
    (欠薪, 工资没发 and 钱一直压着不给 are all 工资+拖欠)."""
    brain = turn.brain
    cleaned, normalised = clean(text), brain.normalise(text)
    topics = brain.concepts_in(text).topics
    # Words first: they are the most specific (两个月 picks "over a month" before 工资+拖欠).
    for kind in brain.kb.case_kinds:
        if clean(kind.title) == cleaned or any(w and (w in cleaned or w in normalised)
                                               for w in (clean(w) for w in kind.words)):
            return kind.id
    for kind in brain.kb.case_kinds:
        if any(set(t.split("+")) <= topics for t in kind.topics):
            return kind.id
    return None


def _kind_title(turn: Turn, kind_id: str | None) -> str:
    kind = turn.brain.kb.case_kind(kind_id)
    return kind.title if kind else (kind_id or "其他")


def _finish(turn: Turn, intake: dict[str, Any]) -> Decision:
    """The case is stored from the answers; urgent kinds are followed up like an urgent
    conversation: queued, escalated if nobody takes it."""
    answers = intake["answers"]
    kind = turn.brain.kb.case_kind(answers.get("kind"))
    urgent = bool(kind and kind.urgent)
    title = _kind_title(turn, kind.id if kind else None)
    announce = lambda number: turn.render("intake_done", number=number, kind=title, urgent=urgent)  # noqa: E731
    case = NewCase(answers, urgent, tuple(intake["evidence"]), announce)
    changes = Changes({"pending": None}, case=case)
    if urgent:
        changes = changes.then(Changes({"state": "waiting", "reason": "case", "urgent": 1, "waiting_since": turn.now,
                                         "escalated_at": None, "held_at": turn.now}))
    return Decision(Reply("", "case_opened", "case_opened"), changes)


def _saved(turn: Turn, intake: dict[str, Any] | None) -> Changes:
    if intake is not None:
        intake = {**intake, "updated_at": turn.now}
    return Changes({"pending": {"intake": intake} if intake else None})
