"""What a caseworker does to a conversation: claim, transfer, release, reply, note, close.

Each action is one transaction on the database thread together with its audit entry, then
open console pages are told (Hub) and the outbox is woken. Replies reach WeChat riders only
through the outbox; web-chat riders read them from their page."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from bot.console.auth import Staff, handles_conversations
from bot.console.live import Hub
from bot.conversation import Engine
from bot.outbox import Outbox
from bot.textparts import utf8_len
from storage import AsyncStore, Store

# A customer-service text may be 2048 bytes (../shared/wechat-protocol.md).
MAX_REPLY_BYTES = 2048
MAX_NOTE_CHARS = 2000


def conversation_view(conversation: dict[str, Any], staff_name: str) -> dict[str, Any]:
    """What the console is shown of a conversation. Never the raw row: its rider_id is the
    rider's own identifier, not for staff to copy around."""
    return {k: conversation[k] for k in ("id", "state", "reason", "assigned_to", "waiting_since",
                                         "escalated_at", "created_at", "closed_at")} | {
        "urgent": bool(conversation["urgent"]),
        "yours": conversation["state"] == "assigned" and conversation["assigned_to"] == staff_name}


class Refusal(Exception):
    """An action that cannot be done now, with a reason the caseworker can act on."""

    def __init__(self, status: int, message: str, **detail: Any):
        super().__init__(message)
        self.status = status
        self.message = message
        self.detail = detail


@dataclass
class Casework:
    store: AsyncStore
    outbox: Outbox
    hub: Hub
    engine: Engine

    async def claim(self, staff: Staff, conversation_id: int) -> dict[str, Any]:
        def claim(store: Store) -> dict[str, Any]:
            conversation = _existing(store, conversation_id)
            if not store.claim(conversation_id, staff.name, time.time()):
                holder = store.conversation(conversation_id)
                if holder["state"] == "assigned":
                    who = "你" if holder["assigned_to"] == staff.name else holder["assigned_to"]
                    raise Refusal(409, f"{who}已经接手了这个会话", assigned_to=holder["assigned_to"])
                raise Refusal(409, "这个会话已经结束")
            store.audit(staff.name, "claim", f"conversation:{conversation_id}", time.time(),
                        was=conversation["state"])
            return conversation_view(store.conversation(conversation_id), staff.name)
        return await self.run(claim)

    async def release(self, staff: Staff, conversation_id: int) -> dict[str, Any]:
        def release(store: Store) -> dict[str, Any]:
            holder = _held_by(store, staff, conversation_id)["assigned_to"]
            store.release(conversation_id, holder, time.time())
            store.audit(staff.name, "release", f"conversation:{conversation_id}", time.time())
            return conversation_view(store.conversation(conversation_id), staff.name)
        return await self.run(release)

    async def transfer(self, staff: Staff, conversation_id: int, to: str) -> dict[str, Any]:
        def transfer(store: Store) -> dict[str, Any]:
            holder = _held_by(store, staff, conversation_id)["assigned_to"]
            colleague = store.user_by_name(to)
            if not handles_conversations(colleague):
                raise Refusal(400, f"没有可以接手会话的同事叫“{to}”")
            if colleague["name"] == holder:
                raise Refusal(400, "会话已经在他手上")
            store.reassign(conversation_id, holder, colleague["name"], time.time())
            store.audit(staff.name, "transfer", f"conversation:{conversation_id}", time.time(), to=colleague["name"])
            return conversation_view(store.conversation(conversation_id), staff.name)
        return await self.run(transfer)

    async def close(self, staff: Staff, conversation_id: int) -> dict[str, Any]:
        """The rider is told, and their next message goes to the bot again."""
        farewell = self.engine.message("person_closed")

        def close(store: Store) -> dict[str, Any]:
            conversation = _held_by(store, staff, conversation_id)
            self.send(store, conversation, staff, farewell, outcome="closed")
            store.close_conversation(conversation_id, time.time())
            store.audit(staff.name, "close", f"conversation:{conversation_id}", time.time())
            return conversation_view(store.conversation(conversation_id), staff.name)
        return await self.run(close)

    async def reply(self, staff: Staff, conversation_id: int, text: str) -> dict[str, Any]:
        if utf8_len(text) > MAX_REPLY_BYTES:
            raise Refusal(413, f"回复太长：微信一条最多约 {MAX_REPLY_BYTES // 3} 个汉字，请分成几条发")

        def reply(store: Store) -> dict[str, Any]:
            conversation = _held_by(store, staff, conversation_id)
            message_id = self.send(store, conversation, staff, text, outcome="caseworker")
            store.audit(staff.name, "reply", f"conversation:{conversation_id}", time.time(), message=message_id)
            return {"message_id": message_id}
        return await self.run(reply)

    async def note(self, staff: Staff, conversation_id: int, text: str) -> dict[str, Any]:
        if len(text) > MAX_NOTE_CHARS:
            raise Refusal(413, f"备注太长：最多 {MAX_NOTE_CHARS} 个字")

        def note(store: Store) -> dict[str, Any]:
            _existing(store, conversation_id)
            note_id = store.add_note(conversation_id, staff.name, text, time.time())
            store.audit(staff.name, "note", f"conversation:{conversation_id}", time.time(), note=note_id)
            return {"note_id": note_id}
        return await self.run(note)

    async def retry(self, staff: Staff, outbox_id: int) -> dict[str, Any]:
        """A message that failed for good (or is held) is tried again now, e.g. after a fix."""
        def retry(store: Store) -> dict[str, Any]:
            item = store.outbox_item(outbox_id)
            if item is None:
                raise Refusal(404, "没有这条待发消息")
            if item["state"] not in ("failed", "held"):
                raise Refusal(409, "这条消息不需要重发")
            store.update_outbox(outbox_id, state="queued", next_attempt_at=time.time(), last_error=None)
            store.audit(staff.name, "retry", f"outbox:{outbox_id}", time.time())
            return {"outbox_id": outbox_id}
        return await self.run(retry)

    # --- helpers ---------------------------------------------------------------------------
    async def run(self, action) -> dict[str, Any]:
        def in_transaction() -> dict[str, Any]:
            store = self.store.store
            with store.transaction():
                return action(store)
        result = await self.store.run(in_transaction)
        self.hub.changed()
        self.outbox.wake()
        return result

    @staticmethod
    def send(store: Store, conversation: dict[str, Any], staff: Staff, text: str, outcome: str) -> int:
        now = time.time()
        message_id = store.add_message(conversation, "out", now, sender=staff.name, kind="text", text=text,
                                       outcome=outcome)
        rider = store.rider(conversation["rider_id"])
        if rider and rider["channel"] == "wechat":
            store.enqueue_outbox(rider["id"], rider["openid"], text, message_id, now)
        return message_id


def _existing(store: Store, conversation_id: int) -> dict[str, Any]:
    conversation = store.conversation(conversation_id)
    if conversation is None:
        raise Refusal(404, "没有这个会话")
    return conversation


def _held_by(store: Store, staff: Staff, conversation_id: int) -> dict[str, Any]:
    """The conversation, when this person may act in it: only the caseworker holding it,
    or an admin stepping in."""
    conversation = _existing(store, conversation_id)
    if conversation["state"] != "assigned":
        raise Refusal(409, "请先接手这个会话" if conversation["state"] != "closed" else "这个会话已经结束")
    if conversation["assigned_to"] != staff.name and staff.role != "admin":
        raise Refusal(409, f"这个会话在{conversation['assigned_to']}手上", assigned_to=conversation["assigned_to"])
    return conversation
