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

from bot.brain import Brain, Reading
from bot.intake import CASE_NUMBER, EVIDENCE_KINDS, Intake, Said
from bot.office_hours import OfficeHours
from bot.stations_desk import StationDesk, position_of
from bot.textparts import split_to_bytes, utf8_len
from intents import decide
from intents.concepts import Found
from intents.danger import KINDS as DANGER_KINDS, Danger, urgent_plea
from intents.matcher import Thresholds
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
# What the conversation is about is kept this long after the last answer: a follow-up
# ("那要什么材料") comes within minutes; after half an hour a short message is a new question.
CONTEXT_SECONDS = 1800
CONTEXT_TEXT_CHARS = 80  # of the rider's own words kept to read a follow-up against
YES = {"是", "是的", "对", "对的", "对啊", "是啊", "嗯", "嗯嗯", "恩", "好", "要", "没错", "可以", "1", "yes", "y", "ok"}
SHORT_FOLLOW_UP = 8  # characters: 北京的呢, 众包的也算吗
# Within a conversation a short message without a topic (几点开门, 咋参加) is far more often a
# follow-up than off-topic: it is taken as off-topic only when the classifier is this sure
# (real off-topic lines score 0.8-0.9, follow-ups 0.1-0.45 on the development sets).
OFF_TOPIC_IN_CONTEXT = 0.6
PLACE_ASPECT = "地区"  # concepts.yaml's aspect for a city or province named in a follow-up
INTERJECTION_CHARS = 2  # a message this short that names nothing (啊, 嗯嗯, ？？) gets a short prompt


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
    answered: str = ""  # the FAQ entry whose answer the reply gives (also after an emergency's numbers)


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
        # The union's station directory (bot/stations_desk.py), set by create_app; None: the
        # knowledge files' answers only.
        self.stations: StationDesk | None = None

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
        if inbound.kind == "location" and (found := self._stations(store, brain, inbound, conversation)):
            return found
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
        # wechatpy renames a subscribe from a QR code (subscribe_scan) or a product page
        # (EventKey scanbarcode|… or scanimage|…: subscribe_scan_product); all are welcomed.
        if event in ("subscribe", "subscribe_scan", "subscribe_scan_product"):
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
        if event == "scancode_waitmsg":  # WeChat shows 消息接收中 until it gets a reply
            return self._say(brain, "scan_received", "scan_received")
        return None  # VIEW, SCAN, LOCATION reports and unknown events need no reply

    # --- text ----------------------------------------------------------------------------------
    def _text(self, store: Store, brain: Brain, inbound: Inbound, conversation: dict[str, Any],
              message_id: int) -> Reply | None:
        now = inbound.received_at
        reading = brain.read(inbound.text)  # cleaned and tagged once for every check below
        cleaned = reading.cleaned
        danger = brain.danger_in(reading)
        if danger.kinds == ("plea",) and conversation["state"] not in WITH_A_PERSON and \
                not urgent_plea(cleaned) and brain.asks_for_a_person(reading):
            # 有没有人能帮我 真人: a plea that asks for a person is handed to one, urgently, with the numbers.
            return self._hand_off(store, brain, conversation, "urgent", now, plea=True)
        if danger:
            return self._emergency(store, brain, reading, conversation, now, danger)
        if brain.case_status.found_in(cleaned) or CASE_NUMBER.search(inbound.text):
            return self._said(self.intake.status(store, brain, conversation["rider_id"]))
        if conversation["state"] in WITH_A_PERSON:
            if brain.back_to_bot.found_in(cleaned):
                store.update_conversation(conversation["id"], now, state="closed", closed_at=now)
                return self._say(brain, "back_to_bot", "back_to_bot")
            # Asked again in other words (找个真人跟我说): told it is done, not answered as a question.
            if conversation["state"] == "waiting" and brain.asks_for_a_person(reading):
                return self._say(brain, "handoff_queued", "handoff", intent="handoff")
            if conversation["state"] == "waiting" and (found := self._stations(store, brain, inbound, conversation)):
                return found
            if conversation["state"] == "waiting" and cleaned and \
                    (answered := self._while_waiting(store, brain, reading, conversation, now)):
                return answered
            return self._holding(store, brain, conversation, now)
        if brain.asks_for_a_person(reading):
            return self._hand_off(store, brain, conversation, "asked", now)
        if brain.report.found_in(cleaned):
            context = self._context(conversation, now)
            return self._said(self.intake.start(store, brain, conversation, now, inbound.text, context.get("text", "")))
        if found := self._stations(store, brain, inbound, conversation):
            return found
        pending = json.loads(conversation["pending"] or "{}")
        chosen = self._chosen(cleaned, pending.get("choices") or [])
        if chosen and (entry := brain.kb.entry(chosen)):
            return self._answer(store, brain, conversation, entry, None, "chosen", now, inbound.text)
        if pending.get("confirm") and (cleaned in YES or cleaned.rstrip("啊呀的哦") in YES) and \
                (entry := brain.kb.entry(pending["confirm"])):
            return self._answer(store, brain, conversation, entry, None, "chosen", now, inbound.text)
        if brain.more.is_whole(cleaned):
            return self._next_part(store, brain, conversation, pending, now)
        if not cleaned or brain.greetings.is_whole(cleaned):
            return self._say(brain, "greeting", "greeting")
        if brain.thanks.is_whole(cleaned):
            return self._say(brain, "thanks", "thanks")
        found = reading.found
        if len(cleaned) <= INTERJECTION_CHARS and not (found.topics or found.aspects):
            return self._say(brain, "interjection", "interjection")
        return self._match(store, brain, reading, conversation, message_id, now)

    def _match(self, store: Store, brain: Brain, reading: Reading, conversation: dict[str, Any],
               message_id: int, now: float) -> Reply:
        text = reading.text
        candidates = self._rank(brain, reading, conversation, now)
        decision = decide(candidates, self.thresholds, names_a_topic=bool(reading.found.topics))
        if sure := self._sure_answer(brain, reading, conversation, now, candidates, decision):
            entry, score, outcome, asked = sure
            return self._answer(store, brain, conversation, entry, score, outcome, now, asked)
        top = candidates[0] if candidates else None
        # A yes/no question is asking back too: staff review it with the other clarify questions.
        store.record_unanswered(message_id, conversation["rider_id"], text, reading.normalised,
                                "clarify" if decision.kind == "confirm" else decision.kind,
                                top.entry_id if top else None, top.score if top else None, now)
        # Asking back still tells what the conversation is probably about, for a follow-up.
        guess = self._about(top.entry_id, text, now) if top and decision.kind in ("confirm", "clarify") else None
        if decision.kind == "confirm":
            store.update_conversation(conversation["id"], now, pending={"confirm": top.entry_id}, context=guess)
            return self._say(brain, "confirm", "clarify", intent=top.entry_id, score=top.score,
                             title=brain.kb.entry(top.entry_id).title)
        if decision.kind == "clarify":
            ids = [c.entry_id for c in decision.candidates]
            titles = [brain.kb.entry(i).title for i in ids]
            store.update_conversation(conversation["id"], now, pending={"choices": ids}, context=guess)
            return self._say(brain, "clarify", "clarify", intent=top.entry_id, score=top.score, titles=titles)
        misses = (conversation["misses"] or 0) + 1
        store.update_conversation(conversation["id"], now, misses=misses, pending=None)
        name = "fallback_offer_human" if misses >= MISSES_BEFORE_OFFERING_A_PERSON else "fallback"
        return self._say(brain, name, "fallback", intent=top.entry_id if top else "",
                         score=top.score if top else None)

    def _sure_answer(self, brain: Brain, reading: Reading, conversation: dict[str, Any], now: float,
                     candidates: list, decision) -> tuple[Entry, float | None, str, str] | None:
        """(entry, score, outcome, the words it answers) when the bot is sure, else None.
        A new topic wins; a message that asks something of the topic (an aspect such as 材料,
        or a short 北京的呢) without a confident answer of its own is read within the last one."""
        context = self._context(conversation, now)
        found = reading.found
        # A message the bot cannot answer on its own is read within the topic, unless it is
        # off-topic (no candidates): riders go on in few words (咋参加, 学完给发证不, 我不是会员).
        # Only who the rider is (我是专送的, 快递员也有吗) does not change the subject.
        subject = found.topics - set(brain.kb.concepts.rider_topics)
        if context and not (decision.kind == "answer" and subject) and \
                (self._asks_more(reading) or (decision.kind != "answer" and candidates)):
            if new := self._new_subject(brain, context, reading, candidates):
                return new
            if followed := self._follow_up(brain, context, reading.text, found, candidates):
                return followed[0], followed[1], "followup", context["text"] + "，" + reading.text
        if decision.kind == "answer":
            return brain.kb.entry(candidates[0].entry_id), candidates[0].score, "answer", reading.text
        return None

    def _new_subject(self, brain: Brain, context: dict[str, Any], reading: Reading,
                     candidates: list) -> tuple[Entry, float | None, str, str] | None:
        """A message naming a topic the conversation had not (医药费 after a crash, 仲裁 after a
        closed account) is its own question: its best entry, if plausible, rather than the old
        topic that the earlier words would pull towards."""
        current = brain.kb.entry(context.get("entry", ""))
        before = brain.concepts_in(context["text"]).topics | \
            (brain.concepts_in(current.title).topics if current else frozenset()) | set(brain.kb.concepts.rider_topics)
        if not (reading.found.topics - before) or not candidates:
            return None
        top = candidates[0]
        if top.score < self.thresholds.clarify or top.entry_id == context.get("entry") or \
                (entry := brain.kb.entry(top.entry_id)) is None:
            return None
        runner_up = candidates[1].score if len(candidates) > 1 else 0.0
        if top.score - runner_up < self.thresholds.margin:
            return None
        return entry, top.score, "answer", reading.text

    def _rank(self, brain: Brain, reading: Reading, conversation: dict[str, Any], now: float) -> list:
        floor = OFF_TOPIC_IN_CONTEXT if self._context(conversation, now) else 0.0
        return brain.rank(reading, off_topic_floor=floor)

    def _while_waiting(self, store: Store, brain: Brain, reading: Reading, conversation: dict[str, Any],
                       now: float) -> Reply | None:
        """A rider waiting for a person still gets what the bot is sure of, and is told the
        person will still reply: after a 转人工 or an emergency riders go on asking (要留啥证据,
        医药费谁出), and a bare "please wait" left them with nothing. Only while waiting: once
        a caseworker holds the conversation, they answer."""
        pending = json.loads(conversation["pending"] or "{}")
        chosen = self._chosen(reading.cleaned, pending.get("choices") or [])
        if chosen and (entry := brain.kb.entry(chosen)):
            sure = (entry, None, "chosen", reading.text)
        else:
            candidates = self._rank(brain, reading, conversation, now)
            decision = decide(candidates, self.thresholds, names_a_topic=bool(reading.found.topics))
            sure = self._sure_answer(brain, reading, conversation, now, candidates, decision)
        if sure is None:
            return None
        entry, score, outcome, asked = sure
        reply = self._answer(store, brain, conversation, entry, score, outcome, now, asked)
        return dataclasses.replace(reply, text=reply.text + "\n" + self._render(brain, "still_waiting"))

    def _follow_up(self, brain: Brain, context: dict[str, Any], text: str, found: Found,
                   candidates: list) -> tuple[Entry, float | None] | None:
        """The entry a follow-up asks for, within the topic under discussion: first what the
        topic's entry declares for the aspect asked (材料 -> its evidence entry), then the
        rider's earlier words and these together, as one question."""
        current = brain.kb.entry(context.get("entry", ""))
        if current is None:
            return None
        # In the order concepts.yaml lists them: a set's order changes from run to run.
        for aspect in (a for a in brain.kb.concepts.aspects if a in found.aspects):
            if (target := brain.kb.entry(current.related.get(aspect, ""))) is not None:
                return target, 100.0
        # The message's own best entry, when it is a neighbour of the topic (the same FAQ file:
        # 那我咋加入 after the members' benefits), rather than the earlier words' entry again.
        # Not for a place alone (武汉的呢 after the pilot regions): that asks the same topic of a city.
        own = candidates[0] if candidates and found.aspects != {PLACE_ASPECT} else None
        if own and own.entry_id != current.id and own.score >= self.thresholds.clarify and \
                (neighbour := brain.kb.entry(own.entry_id)) and \
                (neighbour.file == current.file or neighbour.id in current.related.values()):
            return neighbour, own.score
        candidates = brain.rank(context["text"] + "，" + text)
        top = candidates[0] if candidates else None
        if top is None or (entry := brain.kb.entry(top.entry_id)) is None:
            return None
        if decide(candidates, self.thresholds).kind == "answer":
            return entry, top.score
        # Within the topic, the topic's own entries need less evidence than a new subject.
        if top.entry_id in {current.id, *current.related.values()} and top.score >= self.thresholds.clarify:
            return entry, top.score
        # Nothing of its own (北京的呢, 要啥手续): the rider is still on the same topic.
        if not found.topics:
            return current, None
        return None

    @staticmethod
    def _asks_more(reading: Reading) -> bool:
        cleaned = reading.cleaned
        return bool(reading.found.aspects or reading.found.topics) or \
            (len(cleaned) <= SHORT_FOLLOW_UP and cleaned.endswith(("呢", "吗")))

    @staticmethod
    def _about(entry_id: str, words: str, now: float) -> str:
        """The conversation's context as stored: the entry it is about and the rider's words."""
        return json.dumps({"entry": entry_id, "text": words[-CONTEXT_TEXT_CHARS:], "at": now}, ensure_ascii=False)

    @staticmethod
    def _context(conversation: dict[str, Any], now: float) -> dict[str, Any]:
        """What the conversation is about, while it is fresh: {} when there is nothing."""
        context = json.loads(conversation.get("context") or "{}")
        return context if context.get("entry") and now - context.get("at", 0) <= CONTEXT_SECONDS else {}

    @staticmethod
    def _chosen(cleaned: str, choices: list[str]) -> str | None:
        number = CHINESE_DIGITS.get(cleaned) or (int(cleaned) if cleaned.isdigit() and len(cleaned) < 3 else 0)
        return choices[number - 1] if 1 <= number <= len(choices) else None

    def _stations(self, store: Store, brain: Brain, inbound: Inbound, conversation: dict[str, Any]) -> Reply | None:
        """A location, or a station question in words, answered from the directory; None when
        it is not one or the directory is empty (then today's answers apply). A rider still
        waiting for a person gets it too: after a heat emergency the nearest shade matters."""
        if self.stations is None or conversation["state"] == "assigned":
            return None
        now = inbound.received_at
        if inbound.kind == "location":
            position = position_of(inbound.extra)
            said = self.stations.location(store, conversation, *position, now) if position else None
        else:
            said = self.stations.text(store, conversation, inbound.channel, inbound.text, now)
        if said is None:
            return None
        text = said.text + ("\n" + self._render(brain, "still_waiting") if conversation["state"] == "waiting" else "")
        return Reply(text, said.outcome, "stations")

    # --- outcomes --------------------------------------------------------------------------
    def _answer(self, store: Store, brain: Brain, conversation: dict[str, Any], entry: Entry,
                score: float | None, outcome: str, now: float, asked: str = "") -> Reply:
        """asked: the rider's words this answer was found for, kept so a follow-up can be read
        against them."""
        text = brain.kb.render_answer(entry, self.context)
        if entry.needs_human:
            text += "\n" + self._render(brain, "needs_human_hint")
        if entry.offers_case:
            text += "\n" + self._render(brain, "case_offer")
        steps = [e for e in (brain.kb.entry(i) for i in dict.fromkeys(entry.related.values()))
                 if e and e.id != entry.id][:3]
        fields: dict[str, Any] = {"misses": 0, "pending": None, "context": self._about(entry.id, asked or entry.title, now)}
        if steps:
            text += "\n\n" + self._render(brain, "next_steps", steps=[e.title for e in steps])
            fields["pending"] = {"choices": [e.id for e in steps]}
        if not conversation["disclaimer_shown"]:
            text += "\n" + self._render(brain, "disclaimer")
            fields["disclaimer_shown"] = 1
        store.update_conversation(conversation["id"], now, **fields)
        return Reply(text, outcome, entry.id, score, answered=entry.id)

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
        reading = brain.read(inbound.text)
        if danger := brain.danger_in(reading):
            return self._emergency(store, brain, reading, conversation, now, danger)
        return self._said(self.intake.answer(store, brain, conversation, intake, inbound.text, now))

    @staticmethod
    def _said(said: Said) -> Reply:
        return Reply(said.text, said.outcome, "intake" if said.outcome.startswith("intake") else said.outcome)

    def _emergency(self, store: Store, brain: Brain, reading: Reading, conversation: dict[str, Any],
                   now: float, danger: Danger) -> Reply:
        # Where the message is also a clear FAQ question, its answer follows the numbers.
        candidates = brain.rank(reading)
        decided = decide(candidates, self.thresholds, names_a_topic=bool(reading.found.topics)).kind
        entry = brain.kb.entry(candidates[0].entry_id) if decided == "answer" else None
        # What it is about is kept, so the rider's next question (医药费谁出) is read within it:
        # the FAQ's best guess, or the entry danger.yaml names for the kind.
        about = candidates[0].entry_id if decided != "fallback" and candidates else \
            next((brain.kb.danger.about[k] for k in danger.kinds if k in brain.kb.danger.about), "")
        # A caseworker who already has the conversation keeps it; otherwise it joins the queue.
        state = "assigned" if conversation["state"] == "assigned" else "waiting"
        # An unfinished help request is kept: the rider can still complete it.
        intake = Intake.state(json.loads(conversation["pending"] or "{}"))
        store.update_conversation(conversation["id"], now, state=state, reason="urgent", urgent=1,
                                  pending={"intake": intake} if intake else None,
                                  waiting_since=conversation["waiting_since"] or now,
                                  **({"context": self._about(about, reading.text, now)} if about else {}))
        # The right number first, for each kind found (a crash with bleeding: 122 and 120).
        blocks = [self._render(brain, f"emergency_{kind}") for kind in DANGER_KINDS if kind in danger.kinds]
        reply = "\n".join(blocks + [self._render(brain, "emergency")]) + self._after_hours(brain, now)
        if entry is not None:
            reply += "\n\n" + brain.kb.render_answer(entry, self.context)
        answered = entry.id if entry is not None else ""
        return Reply(reply, "emergency", "emergency:" + "+".join(danger.kinds), answered=answered)

    def _hand_off(self, store: Store, brain: Brain, conversation: dict[str, Any], reason: str, now: float,
                  plea: bool = False) -> Reply:
        store.update_conversation(conversation["id"], now, state="waiting", reason=reason, pending=None,
                                  waiting_since=now, escalated_at=None, held_at=None, **({"urgent": 1} if plea else {}))
        reply = self._say(brain, "handoff", "handoff", intent="handoff")
        numbers = "\n" + self._render(brain, "emergency_plea") if plea else ""
        return dataclasses.replace(reply, text=reply.text + numbers + self._after_hours(brain, now))

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
        return dataclasses.replace(reply, text=parts[0] + "\n" + hint)

    def message(self, name: str) -> str:
        """A system message from messages.yaml, as the current knowledge renders it."""
        return self._render(self.brain, name)

    # --- helpers ---------------------------------------------------------------------------
    def _render(self, brain: Brain, name: str, **extra: Any) -> str:
        return brain.kb.render_message(name, {**self.context, **extra})

    def _say(self, brain: Brain, name: str, outcome: str, intent: str = "", score: float | None = None,
             **extra: Any) -> Reply:
        return Reply(self._render(brain, name, **extra), outcome, intent or outcome, score)

