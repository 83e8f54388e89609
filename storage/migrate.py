"""`gigdesk migrate-db`: copy an SQLite deployment into an empty PostgreSQL database, in one
transaction, and check that every table holds as many rows on both sides before committing.

Ids are kept (cases, notes and audit entries refer to each other by id), then each identity
column is moved past the highest id copied, so new rows do not collide. The R*Tree of station
boxes is not copied but rebuilt from the stations, as storage/stations.py writes it. Stop the
server first: the SQLite side is read in one read transaction, so a copy taken while it runs
is still one consistent moment, but what riders write after that moment would be left behind."""
from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from storage.pg_schema import _referenced_first, _shape
from storage.sql import postgres_value
from storage.store import Store

SKIPPED = {"station_boxes"}  # rebuilt, see above


class MigrateError(Exception):
    """The copy was refused or did not check out; nothing was written. One line, for people."""


def copy_sqlite_to_postgres(sqlite_path: str | Path, database_url: str) -> dict[str, int]:
    """Rows copied per table; raises MigrateError (and writes nothing) when the target is not
    empty or a count differs."""
    from storage.postgres import PostgresStore

    if not Path(sqlite_path).is_file():
        raise MigrateError(f"no database at {sqlite_path} (wrong --data-dir?)")
    Store(sqlite_path).close()  # brings the SQLite side up to the current schema first
    source = sqlite3.connect(str(sqlite_path), isolation_level=None)
    target = PostgresStore(database_url)
    try:
        tables = [t for t in _referenced_first(_shape(source)[0]) if t not in SKIPPED]
        source.execute("BEGIN")  # one snapshot of the source for the whole copy
        pg = target.db.conn
        with pg.transaction():
            busy = [t for t in tables if pg.execute(f"SELECT EXISTS (SELECT 1 FROM {t})").fetchone()[0]]
            if busy:
                raise MigrateError(f"the PostgreSQL database is not empty ({', '.join(busy)}): refusing to mix")
            counts = {table: _copy_table(source, pg, table) for table in tables}
            pg.execute("INSERT INTO station_boxes (id, min_lat, max_lat, min_lng, max_lng)"
                       " SELECT id, lat, lat, lng, lng FROM stations")
            for table in tables:
                _move_identity_past_copied_ids(pg, table)
            for table in tables:
                there = pg.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
                here = source.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
                if not here == there == counts[table]:
                    raise MigrateError(f"{table}: {here} rows in SQLite, {there} copied: nothing written")
        source.execute("ROLLBACK")
        return counts
    finally:
        source.close()
        target.close()


def _copy_table(source: sqlite3.Connection, pg: Any, table: str) -> int:
    columns = [r[1] for r in source.execute(f"PRAGMA table_info({table})")]
    names = ", ".join(f'"{c}"' for c in columns)
    rows = source.execute(f"SELECT {names} FROM {table} ORDER BY rowid")
    n = 0
    with pg.cursor().copy(f"COPY {table} ({names}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([postgres_value(v) for v in row])
            n += 1
    return n


def _move_identity_past_copied_ids(pg: Any, table: str) -> None:
    row = pg.execute("SELECT pg_get_serial_sequence(%s, 'id') FROM information_schema.columns"
                     " WHERE table_schema = current_schema() AND table_name = %s AND column_name = 'id'",
                     [table, table]).fetchone()
    sequence = row[0] if row else None
    if sequence:  # an identity column "id"
        pg.execute(f"SELECT setval(%s, COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)", [sequence])
