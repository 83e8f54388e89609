"""Help requests (cases): numbers, the case list with filters, history and evidence
(part of Store; see storage.store)."""
from __future__ import annotations

import time
from typing import Any

from storage.sql import Connection

STATUSES = ("new", "accepted", "in_progress", "referred", "resolved", "closed")
FINISHED = ("resolved", "closed")
CASE_FILTERS = ("status", "kind", "platform", "city", "assigned_to")
# Longer than a fetch can take (WeChat's media download, 10 MB at most, then the write).
EVIDENCE_LEASE_SECONDS = 300.0


class Cases:
    db: Connection

    def create_case(self, rider_id: str, conversation_id: int, fields: dict[str, Any], urgent: bool,
                    now: float) -> dict[str, Any]:
        """A new case with the next number of the month: GH-<yymm>-<nnnn>."""
        prefix = "GH-" + time.strftime("%y%m", time.localtime(now)) + "-"
        last = list(self.db.query("SELECT number FROM cases WHERE number LIKE ? ORDER BY number DESC LIMIT 1",
                                  [prefix + "%"]))
        sequence = int(last[0]["number"].rsplit("-", 1)[1]) + 1 if last else 1
        row = {"number": f"{prefix}{sequence:04d}", "rider_id": rider_id, "conversation_id": conversation_id,
               "status": "new", "urgent": int(urgent), "created_at": now, "updated_at": now,
               **{k: fields.get(k) for k in ("kind", "platform", "city", "happened", "story", "phone")}}
        case_id = self.db["cases"].insert(row).last_pk
        self.add_case_event(case_id, "rider", "created", now, to_status="new")
        return self.case(case_id)

    def case(self, case_id: int) -> dict[str, Any] | None:
        rows = list(self.db["cases"].rows_where("id = ?", [case_id], limit=1))
        return rows[0] if rows else None

    def rider_cases(self, rider_id: str) -> list[dict[str, Any]]:
        return list(self.db["cases"].rows_where("rider_id = ?", [rider_id], order_by="id DESC"))

    def cases(self, filters: dict[str, str], since: float | None = None, until: float | None = None,
              limit: int | None = 500) -> list[dict[str, Any]]:
        """Open urgent cases first, then newest. Filters are exact matches on CASE_FILTERS."""
        where, args = [], []
        for name in CASE_FILTERS:
            if filters.get(name):
                where.append(f"{name} = ?")
                args.append(filters[name])
        if since is not None:
            where.append("created_at >= ?")
            args.append(since)
        if until is not None:
            where.append("created_at < ?")
            args.append(until)
        order = f"CASE WHEN urgent = 1 AND status NOT IN {FINISHED} THEN 0 ELSE 1 END, created_at DESC, id DESC"
        return list(self.db["cases"].rows_where(" AND ".join(where) or None, args, order_by=order, limit=limit))

    def case_values(self, column: str) -> list[str]:
        """The values in use for a filter, for the filter's choices."""
        assert column in CASE_FILTERS
        return [r["v"] for r in self.db.query(
            f"SELECT DISTINCT {column} AS v FROM cases WHERE {column} IS NOT NULL ORDER BY v")]

    def update_case(self, case_id: int, now: float, **fields: Any) -> None:
        self.db["cases"].update(case_id, {**fields, "updated_at": now})

    def add_case_event(self, case_id: int, actor: str, action: str, now: float, from_status: str | None = None,
                       to_status: str | None = None, note: str | None = None) -> int:
        return self.db["case_events"].insert({"case_id": case_id, "at": now, "actor": actor, "action": action,
                                              "from_status": from_status, "to_status": to_status,
                                              "note": note}).last_pk

    def case_events(self, case_id: int) -> list[dict[str, Any]]:
        return list(self.db["case_events"].rows_where("case_id = ?", [case_id], order_by="id"))

    # --- evidence ------------------------------------------------------------------------------
    def add_evidence(self, case_id: int, message_id: int, kind: str, media_id: str, now: float) -> int:
        return self.db["case_evidence"].insert({"case_id": case_id, "message_id": message_id, "kind": kind,
                                                "media_id": media_id, "state": "pending",
                                                "created_at": now}).last_pk

    def evidence(self, case_id: int) -> list[dict[str, Any]]:
        return list(self.db["case_evidence"].rows_where("case_id = ?", [case_id], order_by="id"))

    def evidence_item(self, evidence_id: int) -> dict[str, Any] | None:
        rows = list(self.db["case_evidence"].rows_where("id = ?", [evidence_id], limit=1))
        return rows[0] if rows else None

    def claim_pending_evidence(self, now: float, lease_seconds: float = EVIDENCE_LEASE_SECONDS,
                               limit: int = 10) -> list[dict[str, Any]]:
        """Files still to fetch from WeChat, taken for `lease_seconds` by this process: another
        worker's fetcher skips them meanwhile (and on PostgreSQL does not wait for the rows),
        and they are due again if this one dies before saving them."""
        pending = ("SELECT * FROM case_evidence WHERE state = 'pending'"
                   " AND (fetching_until IS NULL OR fetching_until <= ?) ORDER BY id LIMIT ?")
        if not list(self.db.query(pending, [now, 1])):  # most polls: no transaction, no write lock
            return []
        skip_locked = " FOR UPDATE SKIP LOCKED" if self.db.dialect == "postgresql" else ""
        with self.db.atomic():
            rows = list(self.db.query(pending + skip_locked, [now, limit]))
            if rows:
                sql, ids = self.db.id_list([row["id"] for row in rows])
                self.db.execute(f"UPDATE case_evidence SET fetching_until = ? WHERE id IN ({sql})",
                                [now + lease_seconds, ids])
        return rows

    def update_evidence(self, evidence_id: int, **fields: Any) -> None:
        self.db["case_evidence"].update(evidence_id, fields)

    def mark_privacy_noticed(self, rider_id: str, now: float) -> None:
        self.db["riders"].update(rider_id, {"privacy_noticed_at": now})
