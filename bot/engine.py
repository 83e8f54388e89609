"""The conversation engine: one inbound message in, the reply (if any) out.

Channel adapters turn requests into Inbound; the engine records the message, decides what to
say and records that too. It never sees XML or HTTP. Engine.handle runs on the database
thread (see storage.AsyncStore), so one rider's messages are handled one at a time."""
from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.brain import Brain
from bot.intake import CASE_NUMBER, EVIDENCE_KINDS, Intake, Said
from bot.office_hours import OfficeHours
from bot.textparts import split_to_bytes, utf8_len
from intents import decide
from intents.matcher import Thresholds
from intents.normalise import clean
from knowledge import Entry
from storage import Store

CHINESE_DIGITS = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5}
MISSES_BEFORE_OFFERING_A_PERSON = 2
# A passive reply text may be 2048 bytes (../shared/wechat-protocol.md); the web chat has no limit.
CHANNEL_BYTE_LIMITS = {"wechat": 2048}
# While a person has (or is about to take) the conversation, the bot does not answer.
WITH_A_PERSON = ("waiting", "assigned")
# While waiting, the rider is reminded that a person will reply at most this often: once
# reassures, a reminder on every line of a long story is noise.
HOLDING_REPEAT_SECONDS = 600


@dataclass(frozen=True)
class Inbound:
    channel: str  # "wechat" | "web"
    openid: str
    kind: str  # text | voice | image | video | shortvideo | link | location | event | unknown
    received_at: float
    text: str = ""  # the text, or a voice message's speech recognition
    event: str = ""  # subscribe | unsubscribe | click | scan | view | location | ...
    event_key: str = ""
    media_id: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Reply:
    text: str
    outcome: str  # answer | clarify | fallback | handoff | emergency | greeting | ...
    intent: str = ""
    score: float | None = None
    message_id: int | None = None


class Engine:
    def __init__(self, brain: Brain, context: dict[str, Any], thresholds: Thresholds = Thresholds(),
                 office_hours: OfficeHours | None = None):
        self.brain = brain  # replaced whole when the FAQ files are reloaded
        self.context = context  # variables for templates: union_hotline, union_name
        self.thresholds = thresholds
        self.office_hours = office_hours  # None: people are always on duty
        self.intake = Intake(self._render)
        # Told every decision (None: nothing said), e.g. for /metrics. Runs on the database
        # thread inside the delivery's transaction, so it must be quick and must not raise.
        self.observe: Callable[[Reply | None], None] = lambda reply: None

    # --- entry point -------------------------------------------------------------------------
    def handle(self, store: Store, inbound: Inbound) -> Reply | None:
        brain = self.brain  # one version of the knowledge for the whole message
        now = inbound.received_at
        rider = store.touch_rider(inbound.channel, inbound.openid, now)
        conversation = store.open_conversation(rider["id"], now)
        message_id = store.add_message(conversation, "in", now, kind=inbound.kind,
                                       text=inbound.text or inbound.event_key or None,
                                       media_id=inbound.media_id or None)
        reply = self._decide(store, brain, inbound, conversation, message_id)
        self.observe(reply)
        if reply is None:
            return None
        reply = self._fit_channel(store, brain, inbound.channel, conversation, reply, now)
        out_id = store.add_message(conversation, "out", now, kind="text", text=reply.text,
                                   intent=reply.intent or None, score=reply.score, outcome=reply.outcome)
        return dataclasses.replace(reply, message_id=out_id)

    def _decide(self, store: Store, brain: Brain, inbound: Inbound, conversation: dict[str, Any],
                message_id: int) -> Reply | None:
        intake = Intake.state(json.loads(conversation["pending"] or "{}"))
        if intake and Intake.expired(intake, inbound.received_at):
            store.update_conversation(conversation["id"], inbound.received_at, pending=None)
            conversation = store.conversation(conversation["id"])
            reply = self._decide(store, brain, inbound, conversation, message_id)
            note = self._render(brain, "intake_expired")
            return Reply(note + ("\n\n" + reply.text if reply else ""), reply.outcome if reply else "intake_expired",
                         reply.intent if reply else "intake", reply.score if reply else None)
        if intake and inbound.kind != "event":
            return self._intake(store, brain, inbound, conversation, intake, message_id)
        if inbound.kind == "event":
            return self._event(store, brain, inbound, conversation)
        if inbound.kind == "text" or (inbound.kind == "voice" and inbound.text.strip()):
            return self._text(store, brain, inbound, conversation, message_id)
        if inbound.kind == "voice":
            return self._say(brain, "voice_unrecognised", "voice_unrecognised")
        if conversation["state"] in WITH_A_PERSON:
            return self._holding(store, brain, conversation, inbound.received_at)
        if inbound.kind in ("image", "video", "shortvideo", "link", "file"):
            return self._say(brain, "media_received", "media_received")
        if inbound.kind == "location":
            return self._say(brain, "location", "location")
        return None  # unknown message types: WeChat gets "success"

    # --- events ------------------------------------------------------------------------------
    def _event(self, store: Store, brain: Brain, inbound: Inbound, conversation: dict[str, Any]) -> Reply | None:
        event = inbound.event
        if event in ("subscribe", "subscribe_scan"):
            store.set_subscribed(conversation["rider_id"], True, inbound.received_at)
            return self._say(brain, "welcome", "welcome")
        if event == "unsubscribe":
            store.set_subscribed(conversation["rider_id"], False, inbound.received_at)
            return None  # the rider can no longer receive anything
        if event == "click":
            entry = brain.kb.entry(brain.kb.menu.get(inbound.event_key, ""))
            if entry is None:
                return self._say(brain, "welcome", "menu_unknown")
            return self._answer(store, brain, conversation, entry, None, "menu", inbound.received_at)
        return None  # VIEW, SCAN, LOCATION reports and unknown events need no reply

    # --- text ----------------------------------------------------------------------------------
    def _text(self, store: Store, brain: Brain, inbound: Inbound, conversation: dict[str, Any],
              message_id: int) -> Reply | None:
        now = inbound.received_at
        cleaned = clean(inbound.text)
        if brain.emergency.found_in(cleaned):
            return self._emergency(store, brain, inbound.text, conversation, now)
        if brain.case_status.found_in(cleaned) or CASE_NUMBER.search(inbound.text):
            return self._said(self.intake.status(store, brain, conversation["rider_id"]))
        if conversation["state"] in WITH_A_PERSON:
            if brain.back_to_bot.found_in(cleaned):
                store.update_conversation(conversation["id"], now, state="closed", closed_at=now)
                return self._say(brain, "back_to_bot", "back_to_bot")
            return self._holding(store, brain, conversation, now)
        if brain.handoff.found_in(cleaned):
            return self._hand_off(store, brain, conversation, "asked", now)
        if brain.report.found_in(cleaned):
            return self._said(self.intake.start(store, brain, conversation, now))
        pending = json.loads(conversation["pending"] or "{}")
        chosen = self._chosen(cleaned, pending.get("choices") or [])
        if chosen and (entry := brain.kb.entry(chosen)):
            return self._answer(store, brain, conversation, entry, None, "chosen", now)
        if brain.more.is_whole(cleaned):
            return self._next_part(store, brain, conversation, pending, now)
        if not cleaned or brain.greetings.is_whole(cleaned):
            return self._say(brain, "greeting", "greeting")
        if brain.thanks.is_whole(cleaned):
            return self._say(brain, "thanks", "thanks")
        return self._match(store, brain, inbound.text, conversation, message_id, now)

    def _match(self, store: Store, brain: Brain, text: str, conversation: dict[str, Any],
               message_id: int, now: float) -> Reply:
        candidates = brain.matcher.match(text)
        decision = decide(candidates, self.thresholds)
        top = candidates[0] if candidates else None
        if decision.kind == "answer":
            entry = brain.kb.entry(top.entry_id)
            return self._answer(store, brain, conversation, entry, top.score, "answer", now)
        store.record_unanswered(message_id, conversation["rider_id"], text, brain.normalise(text),
                                decision.kind, top.entry_id if top else None, top.score if top else None, now)
        if decision.kind == "clarify":
            ids = [c.entry_id for c in decision.candidates]
            titles = [brain.kb.entry(i).title for i in ids]
            store.update_conversation(conversation["id"], now, pending={"choices": ids})
            return self._say(brain, "clarify", "clarify", intent=top.entry_id, score=top.score, titles=titles)
        misses = (conversation["misses"] or 0) + 1
        store.update_conversation(conversation["id"], now, misses=misses, pending=None)
        name = "fallback_offer_human" if misses >= MISSES_BEFORE_OFFERING_A_PERSON else "fallback"
        return self._say(brain, name, "fallback", intent=top.entry_id if top else "",
                         score=top.score if top else None)

    @staticmethod
    def _chosen(cleaned: str, choices: list[str]) -> str | None:
        number = CHINESE_DIGITS.get(cleaned) or (int(cleaned) if cleaned.isdigit() and len(cleaned) < 3 else 0)
        return choices[number - 1] if 1 <= number <= len(choices) else None

    # --- outcomes --------------------------------------------------------------------------
    def _answer(self, store: Store, brain: Brain, conversation: dict[str, Any], entry: Entry,
                score: float | None, outcome: str, now: float) -> Reply:
        text = brain.kb.render_answer(entry, self.context)
        if entry.needs_human:
            text += "\n" + self._render(brain, "needs_human_hint")
        if entry.offers_case:
            text += "\n" + self._render(brain, "case_offer")
        fields: dict[str, Any] = {"misses": 0, "pending": None}
        if not conversation["disclaimer_shown"]:
            text += "\n" + self._render(brain, "disclaimer")
            fields["disclaimer_shown"] = 1
        store.update_conversation(conversation["id"], now, **fields)
        return Reply(text, outcome, entry.id, score)

    def _intake(self, store: Store, brain: Brain, inbound: Inbound, conversation: dict[str, Any],
                intake: dict[str, Any], message_id: int) -> Reply | None:
        """Within an intake: danger still comes first; media are evidence; text answers."""
        now = inbound.received_at
        if inbound.kind in EVIDENCE_KINDS and inbound.media_id:
            said = self.intake.attach(store, brain, conversation, intake, message_id, inbound.kind,
                                      inbound.media_id, now)
            if not (inbound.kind == "voice" and inbound.text.strip()):
                return self._said(said)
            intake = Intake.state(json.loads(store.conversation(conversation["id"])["pending"] or "{}"))
        if not inbound.text.strip():
            return self._said(Said(self.intake.question(brain, intake["step"]), "intake"))
        if brain.emergency.found_in(clean(inbound.text)):
            return self._emergency(store, brain, inbound.text, conversation, now)
        return self._said(self.intake.answer(store, brain, conversation, intake, inbound.text, now))

    @staticmethod
    def _said(said: Said) -> Reply:
        return Reply(said.text, said.outcome, "intake" if said.outcome.startswith("intake") else said.outcome)

    def _emergency(self, store: Store, brain: Brain, text: str, conversation: dict[str, Any], now: float) -> Reply:
        # A caseworker who already has the conversation keeps it; otherwise it joins the queue.
        state = "assigned" if conversation["state"] == "assigned" else "waiting"
        # An unfinished help request is kept: the rider can still complete it.
        intake = Intake.state(json.loads(conversation["pending"] or "{}"))
        store.update_conversation(conversation["id"], now, state=state, reason="urgent", urgent=1,
                                  pending={"intake": intake} if intake else None,
                                  waiting_since=conversation["waiting_since"] or now)
        reply = self._render(brain, "emergency") + self._after_hours(brain, now)
        # Safety first; where the message is also a clear FAQ question, the answer follows.
        candidates = brain.matcher.match(text)
        decision = decide(candidates, self.thresholds)
        if decision.kind == "answer" and (entry := brain.kb.entry(candidates[0].entry_id)):
            reply += "\n\n" + brain.kb.render_answer(entry, self.context)
        return Reply(reply, "emergency", "emergency")

    def _hand_off(self, store: Store, brain: Brain, conversation: dict[str, Any], reason: str, now: float) -> Reply:
        store.update_conversation(conversation["id"], now, state="waiting", reason=reason, pending=None,
                                  waiting_since=now, escalated_at=None, held_at=None)
        reply = self._say(brain, "handoff", "handoff", intent="handoff")
        return dataclasses.replace(reply, text=reply.text + self._after_hours(brain, now))

    def _holding(self, store: Store, brain: Brain, conversation: dict[str, Any], now: float) -> Reply | None:
        """While a caseworker has the conversation they answer; while it waits, the rider hears
        that a person will reply (and when, after hours), but not on every message."""
        if conversation["state"] == "assigned":
            return None
        if conversation["held_at"] and now - conversation["held_at"] < HOLDING_REPEAT_SECONDS:
            return None
        store.update_conversation(conversation["id"], now, held_at=now)
        reply = self._say(brain, "holding", "holding")
        return dataclasses.replace(reply, text=reply.text + self._after_hours(brain, now))

    def _after_hours(self, brain: Brain, now: float) -> str:
        """Outside office hours, when a person will be back; empty while someone is on duty."""
        if self.office_hours is None or self.office_hours.is_open(now):
            return ""
        return "\n" + self._render(brain, "after_hours", office_hours=self.office_hours.describe(),
                                    next_open=self.office_hours.describe_next(now))

    def _next_part(self, store: Store, brain: Brain, conversation: dict[str, Any], pending: dict, now: float) -> Reply:
        parts = pending.get("parts") or []
        if not parts:
            return self._say(brain, "no_more", "more")
        store.update_conversation(conversation["id"], now, pending={**pending, "parts": parts[1:]})
        text = parts[0] + ("\n" + self._render(brain, "more_hint") if len(parts) > 1 else "")
        return Reply(text, "more", "more")

    def _fit_channel(self, store: Store, brain: Brain, channel: str, conversation: dict[str, Any],
                     reply: Reply, now: float) -> Reply:
        """A reply too long for the channel is sent in parts: the first now, the rest on "更多"."""
        limit = CHANNEL_BYTE_LIMITS.get(channel)
        if limit is None or utf8_len(reply.text) <= limit:
            return reply
        hint = self._render(brain, "more_hint")
        parts = split_to_bytes(reply.text, limit - utf8_len(hint) - 1)
        # Keep what the decision stored (e.g. clarify choices) and add the unread parts.
        pending = json.loads(store.conversation(conversation["id"])["pending"] or "{}")
        store.update_conversation(conversation["id"], now, pending={**pending, "parts": parts[1:]})
        return Reply(parts[0] + "\n" + hint, reply.outcome, reply.intent, reply.score)

    def message(self, name: str) -> str:
        """A system message from messages.yaml, as the current knowledge renders it."""
        return self._render(self.brain, name)

    # --- helpers ---------------------------------------------------------------------------
    def _render(self, brain: Brain, name: str, **extra: Any) -> str:
        return brain.kb.render_message(name, {**self.context, **extra})

    def _say(self, brain: Brain, name: str, outcome: str, intent: str = "", score: float | None = None,
             **extra: Any) -> Reply:
        return Reply(self._render(brain, name, **extra), outcome, intent or outcome, score)

