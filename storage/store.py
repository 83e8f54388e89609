"""The functions the rest of gigdesk calls to read and write its database: Store on SQLite
here, the same methods on PostgreSQL in storage/postgres.py (the SQL runs on both through
storage/sql.py).

Store is synchronous and owned by one thread. AsyncStore runs work on that one thread, so
the event loop never waits on SQLite and writes never contend (the datasette pattern of a
single writer)."""
from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Generic, TypeVar

from sqlite_utils import Database

from storage.accounts import Accounts
from storage.cases import Cases
from storage.casework import Casework
from storage.faq_history import FaqHistory
from storage.ops import Ops
from storage.retention import Retention
from storage.schema import migrations
from storage.stations import StationDirectory
from storage.sql import SQLiteConnection
from storage.stats import Stats
from storage.unanswered import Unanswered

T = TypeVar("T")
S = TypeVar("S")  # a store object with a close() method
OPEN_STATES = ("bot", "waiting", "assigned")
# How long an outbox item being sent is kept from other senders (claim_due_outbox): longer than
# one WeChat API call with its timeout, short enough that a crash mid-send delays it little.
OUTBOX_LEASE_SECONDS = 120.0


# The methods every rider message goes through use plain SQL rather than sqlite-utils' Table
# helpers: those check the table and open a savepoint on every call, which was half of the
# writer thread's time per message (bench/run.py; 151 -> 321 deliveries/s measured side by side).
def _first(cursor: sqlite3.Cursor, columns: tuple[str, ...] | None = None) -> dict[str, Any] | None:
    """The first row as a dict; columns: its column names when known (SELECT * and RETURNING *
    give the table's, read once per Store), else from the cursor."""
    row = cursor.fetchone()
    return dict(zip(columns or [d[0] for d in cursor.description], row)) if row else None


_CURRENT_CONVERSATION = (f"SELECT * FROM conversations WHERE rider_id = ? AND state IN ({', '.join('?' * len(OPEN_STATES))})"
                         " ORDER BY id DESC LIMIT 1")
_INSERT_MESSAGE: dict[tuple[str, ...], str] = {}


def fresh_conversation(rider_id: str, now: float) -> dict[str, Any]:
    """A conversation as Store.new_conversation writes it (id: None until it is written). A
    rider's first message is decided on this before anything is stored."""
    return {"id": None, "rider_id": rider_id, "state": "bot", "reason": None, "urgent": 0, "misses": 0,
            "pending": None, "disclaimer_shown": 0, "assigned_to": None, "created_at": now, "updated_at": now,
            "closed_at": None, "waiting_since": None, "escalated_at": None, "claimed_at": None, "held_at": None,
            "context": None}


def _columns(fields: dict[str, Any]) -> list[str]:
    """Column names for SQL built from keyword arguments: code chooses them, never a request,
    but a name that is not a plain identifier is refused rather than quoted into SQL."""
    names = list(fields)
    if not all(name.isidentifier() for name in names):
        raise ValueError(f"not a column name: {names!r}")
    return names


class Store(Accounts, Casework, Cases, Retention, Unanswered, Stats, FaqHistory, StationDirectory, Ops):
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # check_same_thread=False because the connection is opened by whoever constructs the
        # Store and then used only from AsyncStore's single worker thread.
        conn = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        self.db = SQLiteConnection(conn)
        conn.execute("PRAGMA journal_mode = WAL")
        self.db.execute("PRAGMA foreign_keys = ON")
        self.db.execute("PRAGMA synchronous = NORMAL")  # safe with WAL; survives a process crash
        self.db.execute("PRAGMA busy_timeout = 5000")
        migrations.apply(Database(conn))
        self._read_columns()

    def _read_columns(self) -> None:
        # Every rider message reads these rows: their column names once, not from each cursor.
        self._columns = {table: self.db.columns(table) for table in ("riders", "conversations")}

    def reopen(self) -> Store:
        """Another connection to the same database (another process, in tests)."""
        return Store(self.path)

    def stats_reader(self):
        """A read-only connection of its own for the dashboard (storage.stats.StatsReader)."""
        from storage.stats import StatsReader
        return StatsReader(self.path)

    def change_feed(self):
        """How console pages of this process hear of other processes' changes
        (storage.live.SQLiteChangeFeed; on PostgreSQL storage.postgres.ChangeFeed)."""
        from storage.live import SQLiteChangeFeed
        return SQLiteChangeFeed(self.path)

    def close(self) -> None:
        self.db.close()

    def transaction(self):
        """All writes inside commit together or not at all (nests as savepoints)."""
        return self.db.atomic()

    # --- deliveries (WeChat retry dedupe) -------------------------------------------------
    def claim_delivery(self, key: str, rider_id: str, now: float, replies: list[str] | None = None) -> bool:
        """True for the first delivery of this key, False for a retry. The replies already
        decided can be stored with the claim (one statement instead of two)."""
        cursor = self.db.execute(
            "INSERT INTO deliveries (key, rider_id, received_at, late, replies) VALUES (?, ?, ?, 0, ?)"
            " ON CONFLICT DO NOTHING",
            [key, rider_id, now, None if replies is None else json.dumps(replies, ensure_ascii=False)])
        return cursor.rowcount == 1

    def delivery(self, key: str) -> dict[str, Any] | None:
        return _first(self.db.execute("SELECT * FROM deliveries WHERE key = ?", [key]))

    def finish_delivery(self, key: str, replies: list[str], late: bool) -> None:
        self.db.execute("UPDATE deliveries SET replies = ?, late = ? WHERE key = ?",
                             [json.dumps(replies, ensure_ascii=False), int(late), key])

    def mark_delivery_late(self, key: str) -> None:
        self.db["deliveries"].update(key, {"late": 1})

    def send_late(self, key: str, rider_id: str, openid: str, text: str, message_id: int | None,
                  now: float) -> int:
        """The answer missed the passive-reply deadline: remember that, and queue it."""
        with self.transaction():
            self.mark_delivery_late(key)
            return self.enqueue_outbox(rider_id, openid, text, message_id, now)

    # --- riders ------------------------------------------------------------------------------
    def touch_rider(self, channel: str, openid: str, now: float, *, from_rider: bool = True) -> dict[str, Any]:
        rider_id = f"{channel}:{openid}"
        if from_rider:  # one statement: insert the rider, or note when they last wrote
            return _first(self.db.execute(
                "INSERT INTO riders (id, channel, openid, first_seen_at, subscribed, last_message_at)"
                " VALUES (?, ?, ?, ?, 1, ?) ON CONFLICT (id) DO UPDATE SET last_message_at = excluded.last_message_at"
                " RETURNING *", [rider_id, channel, openid, now, now]), self._columns["riders"])
        self.db.execute("INSERT INTO riders (id, channel, openid, first_seen_at, subscribed)"
                        " VALUES (?, ?, ?, ?, 1) ON CONFLICT DO NOTHING", [rider_id, channel, openid, now])
        return self.rider(rider_id)

    def rider(self, rider_id: str) -> dict[str, Any] | None:
        return _first(self.db.execute("SELECT * FROM riders WHERE id = ?", [rider_id]), self._columns["riders"])

    def set_subscribed(self, rider_id: str, subscribed: bool, now: float) -> None:
        self.db["riders"].update(rider_id, {"subscribed": int(subscribed),
                                            "unsubscribed_at": None if subscribed else now})

    # --- conversations -----------------------------------------------------------------------
    def open_conversation(self, rider_id: str, now: float) -> dict[str, Any]:
        """The rider's open conversation, or a new one with the bot."""
        return self.current_conversation(rider_id) or self.new_conversation(rider_id, now)

    def current_conversation(self, rider_id: str, *, lock: bool = False) -> dict[str, Any] | None:
        """The rider's open conversation, if any. lock (inside a transaction): nobody else may
        change it until the commit, so what is written is decided on what is stored. SQLite's
        one writer already ensures that; on PostgreSQL the row is locked (a caseworker's claim
        meanwhile waits for the commit, then finds the conversation as this one left it)."""
        sql = _CURRENT_CONVERSATION + (" FOR UPDATE" if lock and self.db.dialect == "postgresql" else "")
        return _first(self.db.execute(sql, [rider_id, *OPEN_STATES]), self._columns["conversations"])

    def new_conversation(self, rider_id: str, now: float) -> dict[str, Any]:
        fresh = fresh_conversation(rider_id, now)
        del fresh["id"]
        return _first(self.db.execute(
            f"INSERT INTO conversations ({', '.join(fresh)}) VALUES ({', '.join('?' * len(fresh))}) RETURNING *",
            list(fresh.values())), self._columns["conversations"])

    def delivery_view(self, rider_id: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """What a rider's message is decided on: their row and open conversation (None: none
        yet), read with no transaction open."""
        return self.rider(rider_id), self.current_conversation(rider_id)

    def conversation(self, conversation_id: int) -> dict[str, Any] | None:
        return _first(self.db.execute("SELECT * FROM conversations WHERE id = ?", [conversation_id]))

    def update_conversation(self, conversation_id: int, now: float, **fields: Any) -> None:
        if "pending" in fields and fields["pending"] is not None and not isinstance(fields["pending"], str):
            fields["pending"] = json.dumps(fields["pending"], ensure_ascii=False)
        fields = {**fields, "updated_at": now}
        assignments = ", ".join(f'"{name}" = ?' for name in _columns(fields))
        self.db.execute(f"UPDATE conversations SET {assignments} WHERE id = ?", [*fields.values(), conversation_id])
        if fields.get("state") == "closed":  # e.g. the rider's 结束人工 while a person held it
            self.end_claim(conversation_id, now, "closed")

    def conversations_in_state(self, state: str) -> list[dict[str, Any]]:
        return list(self.db["conversations"].rows_where("state = ?", [state],
                                                        order_by="urgent DESC, updated_at"))

    # --- messages ----------------------------------------------------------------------------
    def add_message(self, conversation: dict[str, Any], direction: str, now: float, **fields: Any) -> int:
        row = {"conversation_id": conversation["id"], "rider_id": conversation["rider_id"],
               "direction": direction, "created_at": now,
               "sender": fields.pop("sender", "rider" if direction == "in" else "bot"), **fields}
        names = tuple(_columns(row))
        sql = _INSERT_MESSAGE.get(names)
        if sql is None:  # a few shapes only (rider's, bot's, caseworker's): built once each
            sql = _INSERT_MESSAGE[names] = (f"INSERT INTO messages ({', '.join(f'{chr(34)}{n}{chr(34)}' for n in names)})"
                                            f" VALUES ({', '.join('?' * len(names))}) RETURNING id")
        return self.db.execute(sql, list(row.values())).fetchone()[0]

    def messages(self, conversation_id: int) -> list[dict[str, Any]]:
        return list(self.db["messages"].rows_where("conversation_id = ?", [conversation_id], order_by="id"))

    def last_emergency(self, conversation_id: int, since: float) -> str | None:
        """The intent of the bot's last emergency reply in the conversation since then
        (emergency:violence), or None."""
        rows = self.db["messages"].rows_where(
            "conversation_id = ? AND direction = 'out' AND created_at >= ? AND intent LIKE ?",
            [conversation_id, since, "emergency:%"], select="intent", order_by="id DESC", limit=1)
        return next((row["intent"] for row in rows), None)

    def rider_messages(self, rider_id: str, after_id: int = 0) -> list[dict[str, Any]]:
        return list(self.db["messages"].rows_where("rider_id = ? AND id > ?", [rider_id, after_id],
                                                   order_by="id"))

    # --- unanswered questions ----------------------------------------------------------------
    def record_unanswered(self, message_id: int, rider_id: str, text: str, normalised: str,
                          outcome: str, top_entry: str | None, top_score: float | None, now: float) -> None:
        self.db.execute("INSERT INTO unanswered (message_id, rider_id, text, normalised, outcome, top_entry,"
                        " top_score, created_at, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'open')",
                        [message_id, rider_id, text, normalised, outcome, top_entry, top_score, now])

    def unanswered(self, status: str = "open") -> list[dict[str, Any]]:
        return list(self.db["unanswered"].rows_where("status = ?", [status], order_by="id DESC"))

    # --- outbox ------------------------------------------------------------------------------
    def enqueue_outbox(self, rider_id: str, openid: str, text: str, message_id: int | None, now: float,
                       kind: str = "text") -> int:
        return self.db["outbox"].insert({"rider_id": rider_id, "openid": openid, "text": text,
                                         "message_id": message_id, "state": "queued", "attempts": 0,
                                         "next_attempt_at": now, "created_at": now, "kind": kind}).last_pk

    def due_outbox(self, now: float, limit: int = 20) -> list[dict[str, Any]]:
        return list(self.db["outbox"].rows_where("state = 'queued' AND next_attempt_at <= ?", [now],
                                                 order_by="next_attempt_at, id", limit=limit))

    def claim_due_outbox(self, now: float, lease_seconds: float = OUTBOX_LEASE_SECONDS) -> dict[str, Any] | None:
        """The next due queued item, taken for `lease_seconds`: its next_attempt_at moves past the
        lease, so another process's outbox (or this one's next pass) does not send it meanwhile;
        if this process dies mid-send, it is due again after the lease. On PostgreSQL the row is
        locked with SKIP LOCKED, so two instances claiming at once take different items. The row
        is returned as it was before the lease (its own next_attempt_at)."""
        due = "SELECT * FROM outbox WHERE state = 'queued' AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT 1"
        # Most polls find nothing due: they are answered without a transaction, so an idle
        # sender never waits for (or takes) SQLite's write lock.
        if _first(self.db.execute(due, [now])) is None:
            return None
        skip_locked = " FOR UPDATE SKIP LOCKED" if self.db.dialect == "postgresql" else ""
        with self.transaction():
            row = _first(self.db.execute(due + skip_locked, [now]))
            if row is not None:
                self.db.execute("UPDATE outbox SET next_attempt_at = ? WHERE id = ?", [now + lease_seconds, row["id"]])
        return row

    def next_outbox_time(self) -> float | None:
        rows = list(self.db.query("SELECT MIN(next_attempt_at) AS t FROM outbox WHERE state = 'queued'"))
        return rows[0]["t"] if rows else None

    def outbox_item(self, item_id: int) -> dict[str, Any] | None:
        rows = list(self.db["outbox"].rows_where("id = ?", [item_id], limit=1))
        return rows[0] if rows else None

    def update_outbox(self, item_id: int, **fields: Any) -> None:
        self.db["outbox"].update(item_id, fields)

    def earlier_queued_text(self, item_id: int, rider_id: str) -> dict[str, Any] | None:
        """The rider's oldest text written before item_id that is still waiting to go."""
        rows = list(self.db["outbox"].rows_where("rider_id = ? AND kind = 'text' AND state = 'queued' AND id < ?",
                                                 [rider_id, item_id], order_by="id", limit=1))
        return rows[0] if rows else None


class AsyncStore(Generic[S]):
    """Runs calls to a store (the Store, or the dashboard's read-only StatsReader) on one
    dedicated thread of its own, off the event loop."""

    def __init__(self, store: S):
        self.store = store
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gigdesk-db")

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def close(self) -> None:
        await self.run(self.store.close)
        self._executor.shutdown(wait=True)


def now() -> float:
    return time.time()
