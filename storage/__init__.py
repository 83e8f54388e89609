"""Storage: schema, migrations and the functions the rest calls, on SQLite (sqlite-utils, the
embedded default) or PostgreSQL (psycopg 3). No SQL lives anywhere else."""
from __future__ import annotations

from pathlib import Path

from storage.schema import web_visitor_id
from storage.store import AsyncStore, Store

__all__ = ["Store", "AsyncStore", "web_visitor_id", "open_store"]


def open_store(database_url: str, sqlite_path: str | Path) -> Store:
    """PostgreSQL when database_url is set, else the SQLite file at sqlite_path."""
    if database_url:
        from storage.postgres import PostgresStore
        return PostgresStore(database_url)
    return Store(sqlite_path)
