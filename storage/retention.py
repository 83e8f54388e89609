"""Forgetting one rider on request, and removing what is past its retention period (part of
Store; see storage.store).

Both run in one transaction and delete children before parents, so foreign keys hold and a
failure part-way leaves everything as it was. Evidence files are not touched here: their paths
(relative to data_dir/evidence) are returned for the caller to delete once the rows are gone.
Each run writes one audit entry with counts only, never personal content."""
from __future__ import annotations

import hashlib
from typing import Any

from storage.sql import Connection

# Every table that holds something about a rider, in the order the counts are reported.
TABLES = ("riders", "conversations", "messages", "notes", "cases", "case_events", "case_evidence",
          "outbox", "deliveries", "unanswered")
DONE_CASE_STATES = ("resolved", "closed")


def rider_hash(rider_id: str) -> str:
    """A stable pseudonym for audit entries: the first 12 hex digits of SHA-256 of the rider id.
    Not reversible by itself, but anyone holding the openid can compute it and compare."""
    return hashlib.sha256(rider_id.encode("utf-8")).hexdigest()[:12]


class Retention:
    db: Connection

    def _purge_rows(self, sql: str, params: Any) -> int:
        return self.db.execute(sql, params).rowcount

    def _evidence_files_of(self, case_ids_sql: str, params: Any) -> list[str]:
        return [row[0] for row in self.db.execute(
            f"SELECT file FROM case_evidence WHERE case_id IN ({case_ids_sql}) AND file IS NOT NULL"
            " AND file != '' ORDER BY id", params).fetchall()]

    def forget_rider(self, rider_id: str, actor: str, now: float) -> dict[str, Any]:
        """Delete everything about one rider. Returns the rows deleted per table and, under
        "files", the evidence files (relative to data_dir/evidence) the caller must delete.
        An unknown rider gives all zeros; the request is audited either way."""
        p = {"rider": rider_id}
        conversations = "SELECT id FROM conversations WHERE rider_id = :rider"
        messages = f"SELECT id FROM messages WHERE rider_id = :rider OR conversation_id IN ({conversations})"
        cases = "SELECT id FROM cases WHERE rider_id = :rider"
        counts = dict.fromkeys(TABLES, 0)
        with self.transaction():
            files = self._evidence_files_of(cases, p)
            counts["case_evidence"] = self._purge_rows(f"DELETE FROM case_evidence WHERE case_id IN ({cases})", p)
            counts["case_events"] = self._purge_rows(f"DELETE FROM case_events WHERE case_id IN ({cases})", p)
            counts["cases"] = self._purge_rows("DELETE FROM cases WHERE rider_id = :rider", p)
            counts["outbox"] = self._purge_rows(
                f"DELETE FROM outbox WHERE rider_id = :rider OR message_id IN ({messages})", p)
            counts["unanswered"] = self._purge_rows(
                f"DELETE FROM unanswered WHERE rider_id = :rider OR message_id IN ({messages})", p)
            counts["notes"] = self._purge_rows(f"DELETE FROM notes WHERE conversation_id IN ({conversations})", p)
            counts["messages"] = self._purge_rows(
                f"DELETE FROM messages WHERE rider_id = :rider OR conversation_id IN ({conversations})", p)
            counts["conversations"] = self._purge_rows("DELETE FROM conversations WHERE rider_id = :rider", p)
            counts["deliveries"] = self._purge_rows("DELETE FROM deliveries WHERE rider_id = :rider", p)
            counts["riders"] = self._purge_rows("DELETE FROM riders WHERE id = :rider", p)
            self.audit(actor, "rider_forget", f"rider:{rider_hash(rider_id)}", now, **counts, files=len(files))
        return {**counts, "files": files}

    def purge(self, cutoff: float, now: float, actor: str = "purge") -> dict[str, Any]:
        """Remove what ended before `cutoff` (epoch seconds): closed conversations with their
        messages, notes and outbox rows; resolved or closed cases with their events and evidence;
        old deliveries and unanswered questions; riders with nothing left. Open or recent
        conversations and open cases are never touched, nor a closed conversation that a
        remaining case points at (its intake) or holds evidence from."""
        p = {"cutoff": cutoff}
        done_cases = ("SELECT id FROM cases WHERE status IN ('resolved', 'closed')"
                      " AND COALESCE(updated_at, closed_at, created_at) < :cutoff")
        # Evaluated after the done cases are gone, so every case it consults is one that stays.
        # Its answer does not change while the rows below are deleted: a kept conversation keeps
        # its messages, and a purged one has no evidence pointing into it.
        old_conversations = (
            "SELECT c.id FROM conversations c WHERE c.state = 'closed'"
            " AND COALESCE(c.closed_at, c.updated_at, c.created_at) < :cutoff"
            " AND NOT EXISTS (SELECT 1 FROM cases k WHERE k.conversation_id = c.id)"
            " AND NOT EXISTS (SELECT 1 FROM case_evidence e JOIN messages m ON m.id = e.message_id"
            "  WHERE m.conversation_id = c.id)")
        old_messages = f"SELECT id FROM messages WHERE conversation_id IN ({old_conversations})"
        gone_riders = (
            "SELECT r.id FROM riders r WHERE COALESCE(r.last_message_at, r.first_seen_at) < :cutoff"
            " AND NOT EXISTS (SELECT 1 FROM conversations c WHERE c.rider_id = r.id)"
            " AND NOT EXISTS (SELECT 1 FROM cases k WHERE k.rider_id = r.id)"
            " AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.rider_id = r.id)")
        counts = dict.fromkeys(TABLES, 0)
        with self.transaction():
            files = self._evidence_files_of(done_cases, p)
            counts["case_evidence"] = self._purge_rows(f"DELETE FROM case_evidence WHERE case_id IN ({done_cases})", p)
            counts["case_events"] = self._purge_rows(f"DELETE FROM case_events WHERE case_id IN ({done_cases})", p)
            counts["cases"] = self._purge_rows(f"DELETE FROM cases WHERE id IN ({done_cases})", p)

            counts["outbox"] = self._purge_rows(f"DELETE FROM outbox WHERE message_id IN ({old_messages})", p)
            counts["unanswered"] = self._purge_rows(
                f"DELETE FROM unanswered WHERE created_at < :cutoff OR message_id IN ({old_messages})", p)
            counts["notes"] = self._purge_rows(f"DELETE FROM notes WHERE conversation_id IN ({old_conversations})", p)
            counts["messages"] = self._purge_rows(f"DELETE FROM messages WHERE id IN ({old_messages})", p)
            counts["conversations"] = self._purge_rows(
                f"DELETE FROM conversations WHERE id IN ({old_conversations})", p)
            counts["deliveries"] = self._purge_rows("DELETE FROM deliveries WHERE received_at < :cutoff", p)

            # Riders with nothing left: what else is kept under their id goes with them.
            counts["outbox"] += self._purge_rows(f"DELETE FROM outbox WHERE rider_id IN ({gone_riders})", p)
            counts["deliveries"] += self._purge_rows(f"DELETE FROM deliveries WHERE rider_id IN ({gone_riders})", p)
            counts["unanswered"] += self._purge_rows(f"DELETE FROM unanswered WHERE rider_id IN ({gone_riders})", p)
            counts["riders"] = self._purge_rows(f"DELETE FROM riders WHERE id IN ({gone_riders})", p)
            self.audit(actor, "purge", f"before:{int(cutoff)}", now, cutoff=cutoff, **counts, files=len(files))
        return {**counts, "files": files}
