"""The history of FAQ changes made in the console (part of Store; see storage.store): who
changed which entry when, with the entry's YAML before and after, so a change can be read
back and reverted. The table is made by migration m005."""
from __future__ import annotations

from typing import Any

from storage.sql import Connection

ACTIONS = ("edit", "create", "add_examples", "revert")


class FaqHistory:
    db: Connection

    def record_faq_change(self, at: float, actor: str, action: str, file: str, entry_id: str,
                          before: str, after: str, reverts: int | None = None) -> int:
        """One change and its audit entry, together; a revert also marks the change it undid."""
        assert action in ACTIONS, action
        with self.db.atomic():
            change_id = self.db["faq_changes"].insert({
                "at": at, "actor": actor, "action": action, "file": file, "entry_id": entry_id,
                "before": before, "after": after, "reverts": reverts, "reverted_by": None}).last_pk
            if reverts is not None:
                self.mark_faq_change_reverted(reverts, change_id)
            detail = {"change": change_id, "file": file}
            if reverts is not None:
                detail["reverts"] = reverts
            self.audit(actor, f"faq_{action}", f"faq:{entry_id}", at, **detail)  # type: ignore[attr-defined]
        return change_id

    def faq_changes(self, entry_id: str | None = None, limit: int = 100,
                    before_id: int | None = None) -> list[dict[str, Any]]:
        """Newest first; one entry's changes when entry_id is given."""
        where, args = [], []
        if entry_id is not None:
            where.append("entry_id = ?")
            args.append(entry_id)
        if before_id is not None:
            where.append("id < ?")
            args.append(before_id)
        return list(self.db["faq_changes"].rows_where(" AND ".join(where) or None, args,
                                                      order_by="id DESC", limit=limit))

    def faq_change(self, change_id: int) -> dict[str, Any] | None:
        rows = list(self.db["faq_changes"].rows_where("id = ?", [change_id], limit=1))
        return rows[0] if rows else None

    def later_faq_changes(self, change: dict[str, Any]) -> list[dict[str, Any]]:
        """Changes to the same entry after this one, oldest first."""
        return list(self.db["faq_changes"].rows_where("entry_id = ? AND id > ?", [change["entry_id"], change["id"]],
                                                      order_by="id"))

    def mark_faq_change_reverted(self, change_id: int, by_change_id: int) -> None:
        self.db["faq_changes"].update(change_id, {"reverted_by": by_change_id})
