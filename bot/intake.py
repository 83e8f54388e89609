"""Help-request intake: a rider records a problem one question at a time and gets a case
number; "查进度" lists their cases.

The state lives in the conversation's pending JSON under "intake", so an intake survives a
restart; one left for a day expires. Images and voice sent during the intake are attached to
the case as evidence. Runs on the database thread as part of Engine.handle."""
from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.brain import Brain
from intents.normalise import clean
from storage import Store

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


@dataclass(frozen=True)
class Said:
    """What the intake answers: the text, and its outcome for the transcript."""
    text: str
    outcome: str


class Intake:
    def __init__(self, render: Callable[..., str]):
        self.render = render  # (brain, message name, **variables) -> text

    @staticmethod
    def state(pending: dict[str, Any]) -> dict[str, Any] | None:
        return pending.get("intake")

    @staticmethod
    def expired(intake: dict[str, Any], now: float) -> bool:
        return now - intake.get("updated_at", 0) > EXPIRES_AFTER

    def start(self, store: Store, brain: Brain, conversation: dict[str, Any], now: float,
              said: str = "", earlier: str = "") -> Said:
        """said: the message that asked to record (我要反映 站点拖欠工资); earlier: what the
        conversation was about. What they already tell (the kind, the platform) is filled in
        and shown, not asked again."""
        rider = store.rider(conversation["rider_id"]) or {}
        answers = self._known(brain, said) or self._known(brain, earlier)
        intake = {"step": "kind", "answers": answers, "evidence": [], "started_at": now}
        intake["step"] = self._next_step(intake, None)
        text = self.question(brain, intake["step"])
        if answers:
            text = self.render(brain, "intake_known", known=self._describe(brain, answers)) + "\n" + text
        if not rider.get("privacy_noticed_at"):  # told once, before the first personal detail
            text = self.render(brain, "intake_privacy") + "\n\n" + text
            store.mark_privacy_noticed(conversation["rider_id"], now)
        self._save(store, conversation, intake, now)
        return Said(text, "intake")

    def _known(self, brain: Brain, text: str) -> dict[str, Any]:
        """The kind and platform a message states, as intake answers."""
        if not text.strip():
            return {}
        known: dict[str, Any] = {}
        if (kind := self._kind_in_words(brain, text)) is not None:
            known["kind"] = kind
        normalised = brain.normalise(text)
        if platform := next((p for p in brain.kb.platforms if p in normalised), None):
            known["platform"] = platform
        return known

    def _describe(self, brain: Brain, answers: dict[str, Any]) -> list[str]:
        parts = []
        if "kind" in answers:
            parts.append("类型：" + self._kind_title(brain, answers["kind"]))
        if "platform" in answers:
            parts.append("平台：" + answers["platform"])
        return parts

    @staticmethod
    def _next_step(intake: dict[str, Any], after: str | None) -> str:
        """The next question whose answer is not known yet."""
        start = 0 if after is None else STEPS.index(after) + 1
        for step in STEPS[start:]:
            if FIELD.get(step, step) not in intake["answers"]:
                return step
        return STEPS[-1]

    def answer(self, store: Store, brain: Brain, conversation: dict[str, Any], intake: dict[str, Any],
               text: str, now: float) -> Said:
        cleaned = clean(text)
        if brain.cancel.is_whole(cleaned):
            self._save(store, conversation, None, now)
            return Said(self.render(brain, "intake_cancelled"), "intake_cancelled")
        step = intake["step"]
        value, problem = self._value(brain, step, text.strip()[:MAX_ANSWER], cleaned)
        if problem:
            return Said(problem, "intake")
        if step == "evidence":
            return self._finish(store, brain, conversation, intake, now)
        if value is not None:
            intake["answers"][FIELD.get(step, step)] = value
        intake["step"] = self._next_step(intake, step)
        self._save(store, conversation, intake, now)
        return Said(self.question(brain, intake["step"]), "intake")

    def attach(self, store: Store, brain: Brain, conversation: dict[str, Any], intake: dict[str, Any],
               message_id: int, kind: str, media_id: str, now: float) -> Said:
        intake["evidence"].append({"message_id": message_id, "kind": kind, "media_id": media_id})
        self._save(store, conversation, intake, now)
        text = self.render(brain, "intake_evidence_received", count=len(intake["evidence"]))
        if intake["step"] != "evidence":  # keep the rider on the question they were answering
            text += "\n\n" + self.question(brain, intake["step"])
        return Said(text, "intake")

    def status(self, store: Store, brain: Brain, rider_id: str) -> Said:
        """Only this rider's cases, whatever number they typed."""
        cases = store.rider_cases(rider_id)
        if not cases:
            return Said(self.render(brain, "case_none"), "case_status")
        rows = [{"number": c["number"], "kind": self._kind_title(brain, c["kind"]),
                 "status": STATUS_WORDS.get(c["status"], c["status"]),
                 "updated": time.strftime("%m月%d日", time.localtime(c["updated_at"])).lstrip("0")}
                for c in cases[:5]]
        return Said(self.render(brain, "case_status", cases=rows), "case_status")

    # --- helpers ---------------------------------------------------------------------------
    def _value(self, brain: Brain, step: str, text: str, cleaned: str) -> tuple[Any, str | None]:
        """The answer to keep (None: skipped) or the reason to ask again."""
        if step == "kind":
            kind = self._kind(brain, cleaned)
            if kind is None:
                return None, "没看懂是哪一类，请回复数字。\n" + self.question(brain, "kind")
            return kind, None
        if step == "evidence":
            return None, None if cleaned in DONE else self.render(brain, "intake_evidence")
        if cleaned in SKIP:
            if step == "story":
                return None, "这一项需要你说一说，工作人员才知道怎么帮你。\n" + self.question(brain, "story")
            return None, None
        if step == "phone":
            digits = re.sub(r"[\s\-()（）]", "", text)
            match = MOBILE.fullmatch(digits) or LANDLINE.fullmatch(digits)
            if not match:
                return None, self.render(brain, "intake_phone_invalid")
            return match.group(match.lastindex or 0), None
        if step == "story" and len(cleaned) < 2:
            return None, self.question(brain, "story")
        return text, None

    @classmethod
    def _kind(cls, brain: Brain, cleaned: str) -> str | None:
        kinds = brain.kb.case_kinds
        if cleaned.isdigit() and 1 <= int(cleaned) <= len(kinds):
            return kinds[int(cleaned) - 1].id
        if cleaned in SKIP:
            return "other" if brain.kb.case_kind("other") else None
        return cls._kind_in_words(brain, cleaned)

    @staticmethod
    def _kind_in_words(brain: Brain, text: str) -> str | None:
        """The kind a rider names in words: its title, one of its words, or its concepts
        (欠薪, 工资没发 and 钱一直压着不给 are all 工资+拖欠)."""
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

    def question(self, brain: Brain, step: str) -> str:
        if step == "kind":
            return self.render(brain, "intake_kind", kinds=[k.title for k in brain.kb.case_kinds])
        return self.render(brain, f"intake_{step}")

    @staticmethod
    def _kind_title(brain: Brain, kind_id: str | None) -> str:
        kind = brain.kb.case_kind(kind_id)
        return kind.title if kind else (kind_id or "其他")

    def _finish(self, store: Store, brain: Brain, conversation: dict[str, Any], intake: dict[str, Any],
                now: float) -> Said:
        answers = intake["answers"]
        kind = brain.kb.case_kind(answers.get("kind"))
        urgent = bool(kind and kind.urgent)
        case = store.create_case(conversation["rider_id"], conversation["id"], answers, urgent, now)
        for item in intake["evidence"]:
            store.add_evidence(case["id"], item["message_id"], item["kind"], item["media_id"], now)
        self._save(store, conversation, None, now)
        if urgent:  # followed up like an urgent conversation: queued, escalated if nobody takes it
            store.update_conversation(conversation["id"], now, state="waiting", reason="case", urgent=1,
                                      waiting_since=now, escalated_at=None, held_at=now)
        return Said(self.render(brain, "intake_done", number=case["number"], kind=self._kind_title(brain, kind.id
                                if kind else None), urgent=urgent), "case_opened")

    @staticmethod
    def _save(store: Store, conversation: dict[str, Any], intake: dict[str, Any] | None, now: float) -> None:
        if intake is not None:
            intake["updated_at"] = now
        store.update_conversation(conversation["id"], now, pending={"intake": intake} if intake else None)
