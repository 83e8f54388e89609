"""Handling one delivery of a rider's message exactly once, whichever channel it came by.

Two steps on the database thread. First the rider's row and open conversation are read and the
message is decided with no transaction open: understanding the message is most of the work,
and no write lock is held for it. Then one short transaction claims the delivery key and
stores the message, what was decided and the reply, after checking that what the decision
read is still what is stored; if it is not (another process, or the console, changed the
conversation in between), the message is decided again inside the transaction. A crash
before the commit leaves nothing claimed, so the sender's retry is answered as new."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from bot.conversation import Engine, Inbound, Reply
from bot.conversation.model import Decision, Turn
from storage import Store
from storage.store import fresh_conversation

# What a decision reads from the rider's row (and apply writes): a change here re-decides.
RIDER_FIELDS = ("subscribed", "privacy_noticed_at")


@dataclass(frozen=True)
class Outcome:
    """What one delivery produced: the reply, or for a retry what the first delivery said."""
    reply_text: str | None
    retry: bool
    late: bool = False
    reply: Reply | None = None
    released: int = 0  # held outbox messages this message let go


@dataclass
class Decided:
    """A message decided outside the transaction, and what the decision was made on."""
    rider: dict[str, Any] | None  # as read (None: a rider not seen before)
    conversation: dict[str, Any] | None  # the open one as read (None: none yet)
    turn: Turn
    decision: Decision


def handle_delivery(store: Store, engine: Engine, key: str, inbound: Inbound) -> Outcome:
    """One delivery on its own, on the database thread (the terminal chat, tests)."""
    decided = decide(store, engine, inbound)
    with store.transaction():
        outcome = record(store, engine, key, inbound, decided)
    _observe(engine, outcome)
    return outcome


def decide(store: Store, engine: Engine, inbound: Inbound) -> Decided:
    """Reads and decides; writes nothing."""
    rider_id = f"{inbound.channel}:{inbound.openid}"
    rider, conversation = store.delivery_view(rider_id)
    turn = engine.turn(store, inbound, conversation or fresh_conversation(rider_id, inbound.received_at))
    return Decided(rider, conversation, turn, engine.fit_channel(turn, engine.decide(turn)))


def record(store: Store, engine: Engine, key: str, inbound: Inbound, decided: Decided | None) -> Outcome:
    """Inside the transaction: claim the key, check what the decision read, store it all.
    decided None: decide here, after the claim (a second message of a rider in one batch)."""
    rider_id, now = f"{inbound.channel}:{inbound.openid}", inbound.received_at
    planned = decided.decision.reply.text if decided and decided.decision.reply else None
    if not store.claim_delivery(key, rider_id, now, [planned] if planned else []):
        row = store.delivery(key) or {}
        replies = json.loads(row.get("replies") or "[]")
        return Outcome(replies[0] if replies else None, retry=True, late=bool(row.get("late")))
    rider = store.touch_rider(inbound.channel, inbound.openid, now)
    conversation = store.current_conversation(rider_id)
    if decided is not None and conversation is None and decided.conversation is None:
        conversation = store.new_conversation(rider_id, now)
        turn, decision = dataclasses.replace(decided.turn, conversation=conversation), decided.decision
    elif decided is not None and conversation == decided.conversation and not _changed(decided.rider, rider):
        turn, decision = decided.turn, decided.decision
    else:  # changed since it was read, or not decided yet: decide now, on what is stored
        turn = engine.turn(store, inbound, conversation or store.new_conversation(rider_id, now))
        decision = engine.fit_channel(turn, engine.decide(turn))
    reply = engine.record(store, turn, decision)
    text = reply.text if reply else None
    if text != planned:  # decided here, or a case's number named in the reply
        store.finish_delivery(key, [text] if text else [], late=False)
    released = 0
    if inbound.channel == "wechat" and inbound.kind != "event":
        # A rider message reopens WeChat's window and quota: held caseworker replies can go.
        released = store.release_held_outbox(rider_id, now)
    return Outcome(text, retry=False, reply=reply, released=released)


def _observe(engine: Engine, outcome: Outcome | BaseException | None) -> None:
    if isinstance(outcome, Outcome) and not outcome.retry:
        engine.observe(outcome.reply)


def _changed(before: dict[str, Any] | None, now: dict[str, Any]) -> bool:
    """A rider not seen before reads as a new row would be."""
    was = before or {"subscribed": 1, "privacy_noticed_at": None}
    return any(was[name] != now[name] for name in RIDER_FIELDS)
