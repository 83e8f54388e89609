"""The one place a decision is stored: the conversation's new state, a message for staff to
review, a finished help request. Runs in the delivery's transaction, after the decision."""
from __future__ import annotations

import dataclasses

from bot.conversation.intake import with_message_id
from bot.conversation.model import Decision, Reply, Turn
from storage import Store


def apply(store: Store, turn: Turn, decision: Decision, message_id: int) -> Reply | None:
    """Stores what the decision changes; the reply as it is to be sent (a case's number is only
    known once the case is stored)."""
    changes, now = decision.changes, turn.now
    conversation, rider_id = turn.conversation, turn.conversation["rider_id"]
    reply = decision.reply
    if changes.subscribed is not None:
        store.set_subscribed(rider_id, changes.subscribed, now)
    if changes.privacy_noticed:
        store.mark_privacy_noticed(rider_id, now)
    if (u := changes.unanswered) is not None:
        store.record_unanswered(message_id, rider_id, u.text, u.normalised, u.kind, u.top_entry, u.top_score, now)
    if (new := changes.case) is not None:
        case = store.create_case(rider_id, conversation["id"], dict(new.answers), new.urgent, now)
        for item in new.evidence:
            store.add_evidence(case["id"], item["message_id"] or message_id, item["kind"], item["media_id"], now)
        if reply is not None:
            reply = dataclasses.replace(reply, text=new.announce(case["number"]))
    fields = dict(changes.conversation)
    if "pending" in fields:
        fields["pending"] = with_message_id(fields["pending"], message_id)
    if fields:
        store.update_conversation(conversation["id"], now, **fields)
    return reply
