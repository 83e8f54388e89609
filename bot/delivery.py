"""Handling one delivery of a rider's message exactly once, whichever channel it came by."""
from __future__ import annotations

import json
from dataclasses import dataclass

from bot.conversation import Engine, Inbound, Reply
from storage import Store


@dataclass(frozen=True)
class Outcome:
    """What one delivery produced: the reply, or for a retry what the first delivery said."""
    reply_text: str | None
    retry: bool
    late: bool = False
    reply: Reply | None = None
    released: int = 0  # held outbox messages this message let go


def handle_delivery(store: Store, engine: Engine, key: str, inbound: Inbound) -> Outcome:
    """Runs on the database thread. Claiming the key, recording the message and the answer are
    one transaction: a crash part-way leaves nothing claimed, so the sender's retry is answered."""
    with store.transaction():
        if not store.claim_delivery(key, f"{inbound.channel}:{inbound.openid}", inbound.received_at):
            row = store.delivery(key) or {}
            replies = json.loads(row.get("replies") or "[]")
            return Outcome(replies[0] if replies else None, retry=True, late=bool(row.get("late")))
        reply = engine.handle(store, inbound)
        released = 0
        if inbound.channel == "wechat" and inbound.kind != "event":
            # A rider message reopens WeChat's window and quota: held caseworker replies can go.
            released = store.release_held_outbox(f"wechat:{inbound.openid}", inbound.received_at)
        store.finish_delivery(key, [reply.text] if reply else [], late=False)
        return Outcome(reply.text if reply else None, retry=False, reply=reply, released=released)
