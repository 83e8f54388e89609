"""The conversation engine: one inbound message in, the reply (if any) out.

Channel adapters turn requests into Inbound; the engine reads it as one Turn through an
ordered list of policies (the first that answers wins: decide, which writes nothing), then
records the message, stores what that policy decided (apply.py) and the reply (record). It
never sees XML or HTTP. Both run on the database thread (see storage.AsyncStore and
bot/delivery.py), deciding outside the write transaction and recording inside it."""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from bot.brain import Brain
from bot.conversation import cases, choices, danger, events, faq, intake, media, person, smalltalk, stations
from bot.conversation.apply import apply
from bot.conversation.model import Decision, Inbound, Reply, Turn
from bot.office_hours import OfficeHours
from bot.stations_desk import StationDesk
from bot.textparts import split_to_bytes, utf8_len
from intents.matcher import Thresholds
from storage import Store

# A passive reply text may be 2048 bytes (../shared/wechat-protocol.md); the web chat has no limit.
CHANNEL_BYTE_LIMITS = {"wechat": 2048}
Policy = Callable[[Turn], "Decision | None"]
# For a message with text, in this order. Danger comes first in every state; a rider with a
# person is not answered by the bot, except for what it is sure of while they wait.
TEXT_POLICIES: tuple[Policy, ...] = (
    danger.decide, cases.status, person.with_a_person, person.asked, cases.report, stations.find,
    choices.decide, smalltalk.decide, faq.decide,
)


class Engine:
    def __init__(self, brain: Brain, context: dict[str, Any], thresholds: Thresholds = Thresholds(),
                 office_hours: OfficeHours | None = None):
        self.brain = brain  # replaced whole when the FAQ files are reloaded
        self.context = context  # variables for templates: union_hotline, union_name
        self.thresholds = thresholds
        self.office_hours = office_hours  # None: people are always on duty
        # Told every decision once it is stored (None: nothing said), e.g. for /metrics. Runs on
        # the database thread, so it must be quick and must not raise.
        self.observe: Callable[[Reply | None], None] = lambda reply: None
        # The union's station directory (bot/stations_desk.py), set by create_app; None: the
        # knowledge files' answers only.
        self.stations: StationDesk | None = None

    def handle(self, store: Store, inbound: Inbound) -> Reply | None:
        """Read, decide and store one message in the caller's transaction. The webhook does the
        same in two steps (bot/delivery.py): deciding before its transaction, recording in it."""
        now = inbound.received_at
        rider = store.touch_rider(inbound.channel, inbound.openid, now)
        turn = self.turn(store, inbound, store.open_conversation(rider["id"], now))
        reply = self.record(store, turn, self.fit_channel(turn, self.decide(turn)))
        self.observe(reply)
        return reply

    def turn(self, store: Store, inbound: Inbound, conversation: Mapping[str, Any]) -> Turn:
        return Turn(inbound, conversation, self, self.brain, store)

    def record(self, store: Store, turn: Turn, decision: Decision) -> Reply | None:
        """Stores the message, what was decided (apply.py) and the reply; turn.conversation must
        be the stored one (its id). The caller tells observe once the transaction has committed."""
        inbound, conversation, now = turn.inbound, turn.conversation, turn.now
        message_id = store.add_message(conversation, "in", now, kind=inbound.kind,
                                       text=inbound.text or inbound.event_key or None,
                                       media_id=inbound.media_id or None)
        reply = apply(store, turn, decision, message_id)
        if reply is None:
            return None
        out_id = store.add_message(conversation, "out", now, kind="text", text=reply.text,
                                   intent=reply.intent or None, score=reply.score, outcome=reply.outcome)
        return dataclasses.replace(reply, message_id=out_id)

    def decide(self, turn: Turn) -> Decision:
        """What to say and what to change; writes nothing."""
        if intake.expired(turn):
            return self._after_expiry(turn)
        for policy in (intake.continue_intake, events.decide):
            if decided := policy(turn):
                return decided
        if turn.has_text:
            for policy in TEXT_POLICIES:
                if decided := policy(turn):
                    return decided
        return media.decide(turn)

    def _after_expiry(self, turn: Turn) -> Decision:
        """An intake left for a day is dropped; the message is then read as any other."""
        fresh = Turn(turn.inbound, {**turn.conversation, "pending": None}, self, turn.brain, turn.store)
        decided = self.decide(fresh)
        note = turn.render("intake_expired")
        reply = decided.reply
        said = Reply(note + ("\n\n" + reply.text if reply else ""), reply.outcome if reply else "intake_expired",
                     reply.intent if reply else "intake", reply.score if reply else None)
        return Decision(said, dataclasses.replace(decided.changes,
                                                  conversation={"pending": None, **decided.changes.conversation}))

    def fit_channel(self, turn: Turn, decision: Decision) -> Decision:
        """A reply too long for the channel is sent in parts: the first now, the rest on "更多"."""
        reply, limit = decision.reply, CHANNEL_BYTE_LIMITS.get(turn.inbound.channel)
        if reply is None or limit is None or utf8_len(reply.text) <= limit:
            return decision
        hint = turn.render("more_hint")
        parts = split_to_bytes(reply.text, limit - utf8_len(hint) - 1)
        # Keep what the decision set (e.g. clarify choices) and add the unread parts.
        changes = decision.changes
        pending = changes.conversation["pending"] if "pending" in changes.conversation else turn.pending
        fields = {**changes.conversation, "pending": {**(pending or {}), "parts": parts[1:]}}
        return Decision(dataclasses.replace(reply, text=parts[0] + "\n" + hint),
                        dataclasses.replace(changes, conversation=fields))

    def message(self, name: str) -> str:
        """A system message from messages.yaml, as the current knowledge renders it."""
        return self.brain.kb.render_message(name, {**self.context})
