"""The queue of conversations waiting for a person, claiming and handing them on, notes, and
what WeChat's customer-service rules leave a caseworker (part of Store; see storage.store)."""
from __future__ import annotations

from typing import Any

from storage.sql import Connection

# WeChat: customer-service messages only within 48 hours of the rider's last message, and at
# most 5 per rider message (../shared/wechat-protocol.md).
WINDOW_SECONDS = 48 * 3600
MESSAGES_PER_RIDER_MESSAGE = 5
CLAIMABLE = ("bot", "waiting")  # a caseworker may also take over a conversation the bot holds


class Casework:
    db: Connection

    def queue(self) -> list[dict[str, Any]]:
        """Conversations waiting for or held by a person: urgent first, then longest waiting."""
        return list(self.db.query(
            "SELECT c.id, c.rider_id, c.state, c.reason, c.urgent, c.assigned_to, c.waiting_since,"
            " c.escalated_at, c.claimed_at, c.updated_at, r.channel,"
            " (SELECT m.text FROM messages m WHERE m.conversation_id = c.id AND m.direction = 'in'"
            "  ORDER BY m.id DESC LIMIT 1) AS last_text,"
            " (SELECT MAX(m.created_at) FROM messages m WHERE m.conversation_id = c.id"
            "  AND m.direction = 'in') AS last_in_at "
            "FROM conversations c JOIN riders r ON r.id = c.rider_id "
            "WHERE c.state IN ('waiting', 'assigned') "
            "ORDER BY c.urgent DESC, COALESCE(c.waiting_since, c.created_at), c.id"))

    def claim(self, conversation_id: int, name: str, now: float) -> bool:
        """Exactly one of several simultaneous claims succeeds: the update is conditional."""
        cursor = self.db.execute(
            f"UPDATE conversations SET state = 'assigned', assigned_to = ?, claimed_at = ?, updated_at = ? "
            f"WHERE id = ? AND state IN ({', '.join('?' * len(CLAIMABLE))})",
            [name, now, now, conversation_id, *CLAIMABLE])
        if cursor.rowcount != 1:
            return False
        self.db.execute(
            "INSERT INTO claims (conversation_id, caseworker, waited_from, claimed_at)"
            " SELECT id, ?, CASE WHEN waiting_since <= ? THEN waiting_since END, ? FROM conversations WHERE id = ?",
            [name, now, now, conversation_id])
        return True

    def reassign(self, conversation_id: int, holder: str, to: str, now: float) -> bool:
        cursor = self.db.execute(
            "UPDATE conversations SET assigned_to = ?, claimed_at = ?, updated_at = ? "
            "WHERE id = ? AND state = 'assigned' AND assigned_to = ?", [to, now, now, conversation_id, holder])
        if cursor.rowcount != 1:
            return False
        self.end_claim(conversation_id, now, "transferred")
        self.db.execute("INSERT INTO claims (conversation_id, caseworker, claimed_at) VALUES (?, ?, ?)",
                        [conversation_id, to, now])
        return True

    def release(self, conversation_id: int, holder: str, now: float) -> bool:
        """Back to the queue; the wait starts again, so it is not escalated at once."""
        cursor = self.db.execute(
            "UPDATE conversations SET state = 'waiting', assigned_to = NULL, waiting_since = ?,"
            " escalated_at = NULL, updated_at = ? WHERE id = ? AND state = 'assigned' AND assigned_to = ?",
            [now, now, conversation_id, holder])
        if cursor.rowcount != 1:
            return False
        self.end_claim(conversation_id, now, "released")
        return True

    def close_conversation(self, conversation_id: int, now: float) -> bool:
        cursor = self.db.execute(
            "UPDATE conversations SET state = 'closed', closed_at = ?, updated_at = ?, pending = NULL "
            "WHERE id = ? AND state != 'closed'", [now, now, conversation_id])
        if cursor.rowcount != 1:
            return False
        self.end_claim(conversation_id, now, "closed")
        return True

    def end_claim(self, conversation_id: int, now: float, how: str) -> None:
        """The caseworker holding the conversation (if any) stops holding it."""
        self.db.execute("UPDATE claims SET ended_at = ?, ended_by = ? WHERE conversation_id = ? AND ended_at IS NULL",
                        [now, how, conversation_id])

    def rider_conversations(self, rider_id: str) -> list[dict[str, Any]]:
        return list(self.db.query(
            "SELECT c.id, c.state, c.reason, c.urgent, c.assigned_to, c.created_at, c.closed_at,"
            " (SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.id) AS message_count "
            "FROM conversations c WHERE c.rider_id = ? ORDER BY c.id DESC", [rider_id]))

    def transcript(self, conversation_id: int, after_id: int = 0) -> list[dict[str, Any]]:
        """Messages with the delivery state of those sent through the outbox."""
        return list(self.db.query(
            "SELECT m.*, o.id AS outbox_id, o.state AS delivery, o.last_error AS delivery_error,"
            " o.attempts AS delivery_attempts "
            "FROM messages m LEFT JOIN outbox o ON o.message_id = m.id AND o.kind = 'text' "
            "WHERE m.conversation_id = ? AND m.id > ? ORDER BY m.id", [conversation_id, after_id]))

    # --- notes -------------------------------------------------------------------------------
    def add_note(self, conversation_id: int, author: str, text: str, now: float) -> int:
        return self.db["notes"].insert({"conversation_id": conversation_id, "author": author, "text": text,
                                        "created_at": now}).last_pk

    def notes(self, conversation_id: int) -> list[dict[str, Any]]:
        return list(self.db["notes"].rows_where("conversation_id = ?", [conversation_id], order_by="id"))

    # --- WeChat's window and quota -----------------------------------------------------------
    def customer_messages_used(self, rider_id: str, since: float) -> int:
        """Customer-service messages sent or still to go since the rider last wrote."""
        rows = list(self.db.query(
            "SELECT COUNT(*) AS n FROM outbox WHERE rider_id = ? AND kind = 'text' AND"
            " ((state = 'sent' AND sent_at >= ?) OR state = 'queued')", [rider_id, since]))
        return rows[0]["n"]

    def customer_messages_sent(self, rider_id: str, since: float) -> int:
        rows = list(self.db.query(
            "SELECT COUNT(*) AS n FROM outbox WHERE rider_id = ? AND kind = 'text' AND state = 'sent'"
            " AND sent_at >= ?", [rider_id, since]))
        return rows[0]["n"]

    def template_notice_since(self, rider_id: str, since: float) -> bool:
        rows = list(self.db.query(
            "SELECT 1 FROM outbox WHERE rider_id = ? AND kind = 'template' AND created_at >= ?"
            " AND state IN ('queued', 'sent') LIMIT 1", [rider_id, since]))
        return bool(rows)

    def release_held_outbox(self, rider_id: str, now: float) -> int:
        """The rider wrote again, which reopens the window and the quota: send what was held."""
        cursor = self.db.execute(
            "UPDATE outbox SET state = 'queued', next_attempt_at = ?, last_error = NULL WHERE id IN ("
            " SELECT id FROM outbox WHERE rider_id = ? AND state = 'held' AND kind = 'text'"
            " ORDER BY id LIMIT ?)", [now, rider_id, MESSAGES_PER_RIDER_MESSAGE])
        return cursor.rowcount

    # --- escalation --------------------------------------------------------------------------
    def overdue_waiting(self, now: float, after: float, urgent_after: float) -> list[dict[str, Any]]:
        return list(self.db.query(
            "SELECT id, rider_id, urgent, reason, waiting_since FROM conversations "
            "WHERE state = 'waiting' AND escalated_at IS NULL AND waiting_since IS NOT NULL"
            " AND waiting_since <= ? - CASE WHEN urgent = 1 THEN ? ELSE ? END ORDER BY id",
            [now, urgent_after, after]))

    def mark_escalated(self, conversation_id: int, now: float) -> bool:
        """False when another process marked it first (or it was taken meanwhile): the update
        is conditional, so several instances checking at once announce each conversation once."""
        cursor = self.db.execute(
            "UPDATE conversations SET escalated_at = ? WHERE id = ? AND state = 'waiting' AND escalated_at IS NULL",
            [now, conversation_id])
        return cursor.rowcount == 1
