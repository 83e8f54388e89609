"""The review of unanswered questions: open rows in a date window, and marking rows as added
to an FAQ entry or dismissed (part of Store; see storage.store)."""
from __future__ import annotations

from typing import Any

from storage.sql import Connection

# The review reads at most this many open rows (the newest), which bounds the grouping's work
# (see intents.grouping); more open questions than this in the window means the oldest wait.
MAX_ROWS = 3000
RESOLUTIONS = ("added", "dismissed")


class Unanswered:
    db: Connection

    def open_unanswered(self, since: float, limit: int = MAX_ROWS) -> list[dict[str, Any]]:
        """Open rows asked at or after `since`, newest first, at most `limit`."""
        return list(self.db.query(
            "SELECT id, text, normalised, outcome, top_entry, top_score, created_at FROM unanswered "
            "WHERE status = 'open' AND created_at >= ? ORDER BY created_at DESC, id DESC LIMIT ?",
            [since, limit]))

    def count_open_unanswered(self, since: float) -> int:
        rows = list(self.db.query(
            "SELECT COUNT(*) AS n FROM unanswered WHERE status = 'open' AND created_at >= ?", [since]))
        return rows[0]["n"]

    def unanswered_statuses(self, ids: list[int]) -> dict[int, str]:
        """{id: status} for those of `ids` that exist."""
        listed, param = self.db.id_list(ids)  # one parameter however many ids
        return {r["id"]: r["status"] for r in self.db.query(
            f"SELECT id, status FROM unanswered WHERE id IN ({listed})", [param])}

    def resolve_unanswered(self, ids: list[int], status: str, actor: str, now: float,
                           entry_id: str | None = None) -> int:
        """Mark those of `ids` still open as added (to `entry_id`) or dismissed; how many were.
        Rows someone else handled meanwhile keep what they were given."""
        if status not in RESOLUTIONS:
            raise ValueError(f"status must be one of {RESOLUTIONS}")
        listed, param = self.db.id_list(ids)
        cursor = self.db.execute(
            "UPDATE unanswered SET status = ?, handled_by = ?, handled_at = ?, entry_id = ? "
            f"WHERE status = 'open' AND id IN ({listed})", [status, actor, now, entry_id, param])
        return cursor.rowcount
