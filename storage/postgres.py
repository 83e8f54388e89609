"""The PostgreSQL backend: the same Store, on a psycopg 3 connection (storage/sql.py turns the
shared SQL into psycopg's), with the schema from storage/pg_schema.py.

Chosen by the database_url setting (GIGDESK_DATABASE_URL), e.g.
postgresql://gigdesk@/gigdesk?host=/run/postgresql. Like the SQLite Store it is owned by one
thread (AsyncStore's), so one connection per Store; several gigdesk processes share the
server, which is the point: deliveries, claims and the outbox are decided by the database's
unique keys and conditional updates, never by one process's memory."""
from __future__ import annotations

from typing import Any

from storage import pg_schema
from storage.sql import PostgresConnection
from storage.stats import StatsReader
from storage.store import Store


def connect(url: str, *, read_only: bool = False) -> Any:
    """An autocommit psycopg connection: statements outside Store.transaction() commit at once,
    as on SQLite (isolation_level=None); transaction() opens a real transaction."""
    try:
        import psycopg  # only needed with a database_url
    except ImportError:
        raise ImportError("database_url is set but psycopg is not installed: pip install 'gigdesk[postgresql]'") from None
    conn = psycopg.connect(url, autocommit=True)
    if read_only:  # set after connecting: an options= here would replace the URL's own (search_path)
        conn.execute("SET default_transaction_read_only = on")
    return conn


class PostgresStore(Store):
    def __init__(self, url: str):
        self.url, self.path = url, None
        conn = connect(url)
        pg_schema.apply(conn)
        self.db = PostgresConnection(conn, reconnect=lambda: connect(url))
        self._read_columns()

    def reopen(self) -> PostgresStore:
        """Another connection to the same database (another process, in tests)."""
        return PostgresStore(self.url)

    def stats_reader(self) -> PostgresStatsReader:
        return PostgresStatsReader(self.url)

    def change_feed(self) -> ChangeFeed:
        return ChangeFeed(self.url)


class PostgresStatsReader(StatsReader):
    """The dashboard's own read-only connection, as StatsReader is for SQLite."""

    def __init__(self, url: str):
        self.db = PostgresConnection(connect(url, read_only=True), reconnect=lambda: connect(url, read_only=True))


class ChangeFeed:
    """Console live updates across processes sharing the database: LISTEN/NOTIFY on one
    channel. A process announces its own changes (announce_soon, coalesced: one NOTIFY per
    burst) and hears the others' (run calls on_change), so a console page served by any
    instance moves when a rider writes to another. The payload is only the sender's random id,
    to ignore its own echo: no rider data goes through the channel."""
    CHANNEL = "gigdesk_console"
    COALESCE_SECONDS = 0.05

    def __init__(self, url: str):
        import uuid
        self.url, self.instance = url, uuid.uuid4().hex
        self._sender: Any = None
        self._pending = False
        self._task: Any = None  # the announcement waiting out its burst
        self.heard = 0  # notifications from other processes (tests)

    async def run(self, on_change) -> None:
        """Listens until cancelled; reconnects after losing the server, a second later."""
        import asyncio

        import psycopg
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self.url, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {self.CHANNEL}")
                    async for notify in conn.notifies():
                        if notify.payload != self.instance:
                            self.heard += 1
                            on_change()
            except psycopg.OperationalError:
                await asyncio.sleep(1.0)

    def announce_soon(self) -> None:
        """On the event loop, after a local change: one NOTIFY for the burst."""
        import asyncio
        if not self._pending:
            self._pending = True
            self._task = asyncio.get_running_loop().create_task(self._announce())

    async def _announce(self) -> None:
        import asyncio
        import logging

        import psycopg
        await asyncio.sleep(self.COALESCE_SECONDS)
        self._pending = False
        try:
            if self._sender is None or self._sender.closed:
                self._sender = await psycopg.AsyncConnection.connect(self.url, autocommit=True)
            await self._sender.execute("SELECT pg_notify(%s, %s)", [self.CHANNEL, self.instance])
        except psycopg.Error as exc:  # other consoles catch up on their next recheck or reload
            logging.getLogger("gigdesk.live").warning("console change not announced to other processes: %r", exc)

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            await self._task  # at most COALESCE_SECONDS: the last change is announced too
        if self._sender is not None:
            await self._sender.close()
