"""Console accounts, their sessions and the audit log (part of Store; see storage.store)."""
from __future__ import annotations

import json
from typing import Any

from storage.sql import Connection

ROLES = ("caseworker", "editor", "admin")


class Accounts:
    db: Connection

    # --- users -------------------------------------------------------------------------------
    def add_user(self, name: str, role: str, password_hash: str, now: float) -> int:
        return self.db["users"].insert({"name": name, "role": role, "password_hash": password_hash,
                                        "active": 1, "created_at": now}).last_pk

    def user_by_name(self, name: str) -> dict[str, Any] | None:
        rows = list(self.db["users"].rows_where("name = ?", [name], limit=1))
        return rows[0] if rows else None

    def user(self, user_id: int) -> dict[str, Any] | None:
        rows = list(self.db["users"].rows_where("id = ?", [user_id], limit=1))
        return rows[0] if rows else None

    def users(self) -> list[dict[str, Any]]:
        return list(self.db["users"].rows_where(
            select="id, name, role, active, created_at, last_login_at", order_by="name"))

    def update_user(self, user_id: int, **fields: Any) -> None:
        self.db["users"].update(user_id, fields)
        if fields.get("active") == 0 or "password_hash" in fields or "role" in fields:
            self.end_sessions(user_id)  # disabled, new password or new role: logged out everywhere

    # --- sessions ----------------------------------------------------------------------------
    def add_session(self, token_hash: str, user_id: int, csrf: str, now: float, expires_at: float) -> None:
        self.db["sessions"].insert({"token_hash": token_hash, "user_id": user_id, "csrf": csrf,
                                    "created_at": now, "last_seen_at": now, "expires_at": expires_at})

    def session_user(self, token_hash: str, now: float) -> dict[str, Any] | None:
        """The session and its active user, or None when unknown, expired or disabled."""
        rows = list(self.db.query(
            "SELECT s.token_hash, s.csrf, s.expires_at, u.id AS user_id, u.name, u.role "
            "FROM sessions s JOIN users u ON u.id = s.user_id "
            "WHERE s.token_hash = ? AND s.expires_at > ? AND u.active = 1", [token_hash, now]))
        return rows[0] if rows else None

    def end_session(self, token_hash: str) -> None:
        self.db.execute("DELETE FROM sessions WHERE token_hash = ?", [token_hash])

    def end_sessions(self, user_id: int) -> None:
        self.db.execute("DELETE FROM sessions WHERE user_id = ?", [user_id])

    def purge_sessions(self, now: float) -> None:
        self.db.execute("DELETE FROM sessions WHERE expires_at <= ?", [now])

    # --- audit -------------------------------------------------------------------------------
    def audit(self, actor: str, action: str, target: str, now: float, **detail: Any) -> None:
        self.db["audit"].insert({"at": now, "actor": actor, "action": action, "target": target,
                                 "detail": json.dumps(detail, ensure_ascii=False) if detail else None})

    def audit_log(self, limit: int = 200, before_id: int | None = None) -> list[dict[str, Any]]:
        where, args = ("id < ?", [before_id]) if before_id else (None, [])
        return list(self.db["audit"].rows_where(where, args, order_by="id DESC", limit=limit))
