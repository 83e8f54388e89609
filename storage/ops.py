"""What operators need from the database: a write test for /readyz, the figures /metrics reads
at scrape time, and an online backup (part of Store; see storage.store, except backup_database,
which opens its own connections so it can run beside a serving process)."""
from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

from storage.sql import Connection

# A write lock held this long means writes are stalled (an open sqlite3 shell, a stuck job):
# /readyz should say so at once, not after the usual five-second busy wait.
WRITE_CHECK_BUSY_MS = 1000
NORMAL_BUSY_MS = 5000  # as set in Store.__init__


class Ops:
    db: Connection

    def check_writable(self) -> None:
        """Raise sqlite3.Error unless a real write can be made now. The write takes the
        database's write lock and changes a page, then is rolled back, so it leaves no trace."""
        if self.db.dialect == "postgresql":
            self._check_writable_postgres()
            return
        conn = self.db.conn
        conn.execute(f"PRAGMA busy_timeout = {WRITE_CHECK_BUSY_MS}")
        try:
            conn.execute("BEGIN IMMEDIATE")  # the write lock: fails when the file is read-only or locked
            try:
                conn.execute("INSERT INTO audit (at, actor, action, target, detail) "
                             "VALUES (0, 'readyz', 'write_check', '', '{}')")
            finally:
                conn.execute("ROLLBACK")
        finally:
            conn.execute(f"PRAGMA busy_timeout = {NORMAL_BUSY_MS}")

    def _check_writable_postgres(self) -> None:
        """The same real write, rolled back, with a lock timeout instead of SQLite's busy wait:
        raises psycopg.Error when the server is read-only (a standby), full or stalled."""
        try:
            with self.db.atomic():
                self.db.execute(f"SET LOCAL lock_timeout = {WRITE_CHECK_BUSY_MS}")
                self.db.execute("SET LOCAL statement_timeout = 5000")
                self.db.execute("INSERT INTO audit (at, actor, action, target, detail) "
                                "VALUES (0, 'readyz', 'write_check', '', '{}')")
                raise _RolledBack
        except _RolledBack:
            pass

    def oldest_due_outbox(self, now: float) -> float | None:
        """When the longest-due queued message became due (None when nothing is due)."""
        rows = list(self.db.query("SELECT MIN(next_attempt_at) AS t FROM outbox "
                                  "WHERE state = 'queued' AND next_attempt_at <= ?", [now]))
        return rows[0]["t"] if rows else None

    def ops_figures(self, now: float) -> dict[str, Any]:
        """Gauges for /metrics: the handoff queue and the outbox, as they are now."""
        queue = list(self.db.query(
            "SELECT state, urgent, COUNT(*) AS n, MIN(COALESCE(waiting_since, created_at)) AS since "
            "FROM conversations WHERE state IN ('waiting', 'assigned') GROUP BY state, urgent"))
        outbox = {row["state"]: row["n"] for row in self.db.query(
            "SELECT state, COUNT(*) AS n FROM outbox GROUP BY state")}
        waiting = [row for row in queue if row["state"] == "waiting"]
        oldest = min((row["since"] for row in waiting if row["since"] is not None), default=None)
        return {
            "waiting": sum(row["n"] for row in waiting),
            "waiting_urgent": sum(row["n"] for row in waiting if row["urgent"]),
            "assigned": sum(row["n"] for row in queue if row["state"] == "assigned"),
            "oldest_wait_seconds": max(0.0, now - oldest) if oldest is not None else 0.0,
            "outbox": {state: outbox.get(state, 0) for state in ("queued", "held", "failed", "sent")},
        }


class _RolledBack(Exception):
    """Leaves check_writable's transaction by rolling it back."""


class BackupError(Exception):
    """The backup could not be made; the message says why in one line."""


def backup_database(source: str | os.PathLike, target: str | os.PathLike) -> dict[str, Any]:
    """Copy the database at `source` to `target` with SQLite's online backup API, while other
    processes keep writing. The copy is taken in one step, so it is one consistent snapshot (in
    WAL mode a reader never blocks the writer; a backup done in several steps would restart at
    every write by another connection and might never finish). It is written next to `target`,
    checked with PRAGMA integrity_check, made a single self-contained file (journal_mode DELETE)
    readable by its owner only, and only then renamed into place: a failed backup never leaves
    a half copy under the expected name. Returns {"path", "bytes", "pages"}."""
    source, target = Path(source), Path(target)
    if not source.is_file():
        raise BackupError(f"no database at {source} (wrong --data-dir?)")
    if target.exists() and target.resolve() == source.resolve():
        raise BackupError("the backup must not overwrite the database itself")
    partial = target.with_name(target.name + ".part")
    partial.unlink(missing_ok=True)
    src = sqlite3.connect(source)  # only read from; is_file() above, so nothing is created
    try:
        src.execute("PRAGMA busy_timeout = 5000")
        dst = sqlite3.connect(partial)
        try:
            os.chmod(partial, 0o600)  # riders' messages and phone numbers: not for every local user
            src.backup(dst)  # pages=-1: the whole database in one step, one snapshot
            dst.execute("PRAGMA journal_mode = DELETE")
            check = dst.execute("PRAGMA integrity_check").fetchone()[0]
            pages = dst.execute("PRAGMA page_count").fetchone()[0]
        finally:
            dst.close()
    except sqlite3.Error as exc:
        partial.unlink(missing_ok=True)
        raise BackupError(f"database error: {exc}") from None
    finally:
        src.close()
    if check != "ok":
        partial.unlink(missing_ok=True)
        raise BackupError(f"the copy failed its integrity check: {check}")
    os.replace(partial, target)
    return {"path": str(target), "bytes": target.stat().st_size, "pages": pages}


def backup_postgres(database_url: str, target: str | os.PathLike) -> dict[str, Any]:
    """The PostgreSQL counterpart of backup_database: pg_dump's custom format (one consistent
    snapshot, taken while other processes write), written next to `target`, readable by its
    owner only, checked by listing it with pg_restore, and only then renamed into place.
    Returns {"path", "bytes", "tables"}. Restore with pg_restore --clean --if-exists -d URL."""
    import shutil
    import subprocess

    target = Path(target)
    for tool in ("pg_dump", "pg_restore"):
        if shutil.which(tool) is None:
            raise BackupError(f"{tool} not found: install Debian's postgresql-client")
    partial = target.with_name(target.name + ".part")
    partial.unlink(missing_ok=True)
    partial.touch(mode=0o600)
    try:
        dump = subprocess.run(["pg_dump", "--format=custom", "--file", str(partial), "--dbname", database_url],
                              capture_output=True, text=True)
        if dump.returncode != 0:
            raise BackupError(f"pg_dump failed: {dump.stderr.strip().splitlines()[-1] if dump.stderr.strip() else dump.returncode}")
        listing = subprocess.run(["pg_restore", "--list", str(partial)], capture_output=True, text=True)
        tables = sum(" TABLE DATA " in line for line in listing.stdout.splitlines())
        if listing.returncode != 0 or not tables:
            raise BackupError("the copy could not be read back by pg_restore")
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, target)
    return {"path": str(target), "bytes": target.stat().st_size, "tables": tables}
