"""The one connection interface the storage mixins write their SQL against, for SQLite and for
PostgreSQL (psycopg 3).

The mixins write SQL once, in the dialect both servers share: `?` placeholders (or `:name`
with a dict), `INSERT ... ON CONFLICT ... DO NOTHING/UPDATE`, `RETURNING`, double-quoted
identifiers. SQLite runs it as written; for PostgreSQL the placeholders are rewritten to
psycopg's (`%s`, `%(name)s`, a literal `%` doubled), once per statement text. What cannot be
written once (SQLite's R*Tree, json_each) is behind a method here or a `dialect` test in
storage/, never outside it.

`db[table]` gives the few sqlite-utils Table helpers the code and tests use (insert().last_pk,
update, rows_where, rows, count), in plain SQL both servers run."""
from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any

def _database_errors() -> tuple[type[Exception], ...]:
    try:
        import psycopg
    except ImportError:  # SQLite only: the postgresql extra is not installed
        return (sqlite3.Error,)
    return (sqlite3.Error, psycopg.Error)


# What either backend raises when the database refuses or fails (for `except DatabaseErrors:`).
DatabaseErrors = _database_errors()
# Primary keys that are not "id" (tables made in storage/schema.py).
PRIMARY_KEYS = {"deliveries": "key", "sessions": "token_hash"}


def _identifier(name: str) -> str:
    if not name.replace("_", "a").isalnum():
        raise ValueError(f"not a plain identifier: {name!r}")
    return name


class Inserted:
    """What Table.insert returns: the new row's primary key, as sqlite-utils' last_pk."""

    def __init__(self, last_pk: Any):
        self.last_pk = last_pk


class Table:
    def __init__(self, db: Connection, name: str):
        self.db, self.name = db, _identifier(name)
        self.pk = PRIMARY_KEYS.get(name, "id")

    def insert(self, row: dict[str, Any]) -> Inserted:
        names = [_identifier(n) for n in row]
        sql = (f'INSERT INTO {self.name} ({", ".join(f"{chr(34)}{n}{chr(34)}" for n in names)})'
               f' VALUES ({", ".join("?" * len(names))}) RETURNING {self.pk}')
        return Inserted(self.db.execute(sql, list(row.values())).fetchone()[0])

    def update(self, pk: Any, fields: dict[str, Any]) -> None:
        if not fields:
            return
        assignments = ", ".join(f'"{_identifier(n)}" = ?' for n in fields)
        self.db.execute(f"UPDATE {self.name} SET {assignments} WHERE {self.pk} = ?", [*fields.values(), pk])

    def rows_where(self, where: str | None = None, args: Sequence[Any] | dict[str, Any] = (), *,
                   select: str = "*", order_by: str | None = None,
                   limit: int | None = None) -> Iterator[dict[str, Any]]:
        sql = f"SELECT {select} FROM {self.name}"
        if where:
            sql += f" WHERE {where}"
        if order_by:
            sql += f" ORDER BY {order_by}"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return self.db.query(sql, args)

    @property
    def rows(self) -> Iterator[dict[str, Any]]:
        return self.rows_where()

    @property
    def count(self) -> int:
        return self.db.execute(f"SELECT COUNT(*) FROM {self.name}").fetchone()[0]


class Connection:
    """Both backends' common surface; see SQLiteConnection and PostgresConnection."""
    dialect: str

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Any:
        """A DB-API cursor: fetchone/fetchall give tuples, rowcount, description, iteration."""
        raise NotImplementedError

    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Iterator[dict[str, Any]]:
        cursor = self.execute(sql, params)
        names = [d[0] for d in cursor.description]
        return (dict(zip(names, row)) for row in cursor.fetchall())

    def __getitem__(self, table: str) -> Table:
        return Table(self, table)

    def atomic(self) -> contextlib.AbstractContextManager:
        """All writes inside commit together or not at all; nests as savepoints."""
        raise NotImplementedError

    def id_list(self, ids: list[int]) -> tuple[str, Any]:
        """A subquery giving the ints in `ids`, with its one parameter: no limit on how many."""
        raise NotImplementedError

    def columns(self, table: str) -> tuple[str, ...]:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class SQLiteConnection(Connection):
    dialect = "sqlite"

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn  # isolation_level=None: autocommit outside atomic()
        self._depth = 0

    def execute(self, sql, params=()):
        return self.conn.execute(sql, params)

    @contextlib.contextmanager
    def atomic(self):
        if self._depth == 0:
            # The outermost block takes the write lock at once (BEGIN IMMEDIATE). A deferred
            # transaction that reads first and writes later fails outright (SQLITE_BUSY, no
            # busy_timeout wait) when another process committed in between: with several
            # workers on one file, an outbox claim or a delivery's re-check would then error
            # instead of waiting its turn. Readers are never blocked by it (WAL).
            self.conn.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                try:
                    yield
                except BaseException:
                    self.conn.execute("ROLLBACK")
                    raise
                try:
                    self.conn.execute("COMMIT")
                except BaseException:  # a failed COMMIT (disk full) leaves the transaction open
                    if self.conn.in_transaction:
                        self.conn.execute("ROLLBACK")
                    raise
            finally:
                self._depth = 0
            return
        name = f"gigdesk_{self._depth}"  # nested: a savepoint, undone alone
        self.conn.execute(f"SAVEPOINT {name}")
        self._depth += 1
        try:
            yield
        except BaseException:
            self.conn.execute(f"ROLLBACK TO {name}")
            self.conn.execute(f"RELEASE {name}")
            raise
        else:
            self.conn.execute(f"RELEASE {name}")
        finally:
            self._depth -= 1

    def id_list(self, ids):
        import json
        # json_each takes the whole list as one parameter: no limit on SQLite's host variables.
        return "SELECT value FROM json_each(?)", json.dumps([int(i) for i in ids])

    def columns(self, table):
        return tuple(r[1] for r in self.conn.execute(f"PRAGMA table_info({_identifier(table)})"))

    def close(self):
        self.conn.close()


def to_psycopg(sql: str) -> str:
    """`?` -> `%s`, `:name` -> `%(name)s`, `%` -> `%%`, outside quoted strings and identifiers.
    `::` (a PostgreSQL cast) is left alone."""
    out, i, n = [], 0, len(sql)
    while i < n:
        c = sql[i]
        if c in "'\"":
            end = sql.index(c, i + 1)
            while end + 1 < n and sql[end + 1] == c:  # '' inside a string
                end = sql.index(c, end + 2)
            # psycopg reads every % as a placeholder, in quotes too: doubled there as well.
            out.append(sql[i:end + 1].replace("%", "%%"))
            i = end + 1
        elif c == "?":
            out.append("%s")
            i += 1
        elif c == "%":
            out.append("%%")
            i += 1
        elif c == ":" and i + 1 < n and sql[i + 1] == ":":
            out.append("::")
            i += 2
        elif c == ":" and i + 1 < n and (sql[i + 1].isalpha() or sql[i + 1] == "_"):
            j = i + 1
            while j < n and (sql[j].isalnum() or sql[j] == "_"):
                j += 1
            out.append(f"%({sql[i + 1:j]})s")
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


def postgres_value(value: Any) -> Any:
    """A value as PostgreSQL takes it. SQLite stores True as 1; PostgreSQL refuses a boolean
    for the integer flag columns. PostgreSQL text cannot hold NUL at all (a pasted or hostile
    U+0000 failed the whole statement, a 500): it is stored as U+FFFD, the rest of the text
    kept. Nobody means a NUL in a message, a note or a name."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, str) and "\x00" in value:
        return value.replace("\x00", "\ufffd")
    return value


class PostgresConnection(Connection):
    dialect = "postgresql"

    def __init__(self, conn, reconnect=None):
        self.conn = conn  # psycopg.Connection in autocommit mode: transactions only in atomic()
        self._translated: dict[str, str] = {}
        # A server restart or a dropped link breaks the connection for good: the statement that
        # finds out fails (its caller sees the error, as with any database error), and the next
        # one outside a transaction gets a new connection.
        self._reconnect = reconnect
        self._depth = 0  # atomic() blocks open: never a new connection inside one

    def execute(self, sql, params=()):
        if self.conn.broken and self._reconnect is not None and self._depth == 0:
            self.conn = self._reconnect()
        query = self._translated.get(sql)
        if query is None:
            query = self._translated[sql] = to_psycopg(sql)
        if isinstance(params, dict):
            params = {k: postgres_value(v) for k, v in params.items()}
        else:
            params = [postgres_value(v) for v in params]
        return self.conn.execute(query, params)  # never None: the % doubled above are read back

    @contextlib.contextmanager
    def atomic(self):
        if self.conn.broken and self._reconnect is not None and self._depth == 0:
            self.conn = self._reconnect()
        self._depth += 1
        try:
            with self.conn.transaction():  # nested: a savepoint
                yield
        finally:
            self._depth -= 1

    def id_list(self, ids):
        return "SELECT unnest(?::bigint[])", [int(i) for i in ids]

    def columns(self, table):
        return tuple(r[0] for r in self.conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = %s"
            " AND table_schema = current_schema() ORDER BY ordinal_position", [table]))

    def close(self):
        self.conn.close()
