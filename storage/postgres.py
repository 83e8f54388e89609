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
    import psycopg  # only needed with a database_url: `pip install gigdesk[postgresql]`

    conn = psycopg.connect(url, autocommit=True)
    if read_only:  # set after connecting: an options= here would replace the URL's own (search_path)
        conn.execute("SET default_transaction_read_only = on")
    return conn


class PostgresStore(Store):
    def __init__(self, url: str):
        self.url, self.path = url, None
        conn = connect(url)
        pg_schema.apply(conn)
        self.db = PostgresConnection(conn)
        self._read_columns()

    def reopen(self) -> PostgresStore:
        """Another connection to the same database (another process, in tests)."""
        return PostgresStore(self.url)

    def stats_reader(self) -> PostgresStatsReader:
        return PostgresStatsReader(self.url)


class PostgresStatsReader(StatsReader):
    """The dashboard's own read-only connection, as StatsReader is for SQLite."""

    def __init__(self, url: str):
        self.db = PostgresConnection(connect(url, read_only=True))
