"""Console live updates across processes sharing one SQLite file: several workers of
`gigdesk serve --workers N`, or a `gigdesk` command writing while the server runs.

SQLite's PRAGMA data_version, read on a connection of the feed's own, moves whenever any
other connection commits to the file. Polling it costs a read of shared memory, no disk and
no write, and carries nothing but a number. It also moves for this process's own commits
(the store's connection is another connection): those pages were already woken, and the
extra wake only makes them fetch once more. PostgreSQL's counterpart is
storage.postgres.ChangeFeed (LISTEN/NOTIFY)."""
from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("gigdesk.live")


class SQLiteChangeFeed:
    POLL_SECONDS = 0.25

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.heard = 0  # commits by other connections noticed (tests)
        self._failing = False  # warned already: one line per outage, not four a second
        # Nothing to announce: the commit itself is the announcement.
        self.announce_soon: Callable[[], None] | None = None

    async def run(self, on_change: Callable[[], None]) -> None:
        """Until cancelled. The pragma is read on the event loop: it touches no disk and takes
        no lock, so it cannot stall the loop the way a query could."""
        conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
        try:
            last = self._version(conn)
            while True:
                await asyncio.sleep(self.POLL_SECONDS)
                current = self._version(conn)
                if current is not None and current != last:
                    last = current
                    self.heard += 1
                    on_change()
        finally:
            conn.close()

    def _version(self, conn: sqlite3.Connection) -> int | None:
        try:
            version = conn.execute("PRAGMA data_version").fetchone()[0]
        except sqlite3.Error as exc:  # pages still catch up on their next reload
            if not self._failing:
                log.warning("console change feed could not read the database: %r", exc)
            self._failing = True
            return None
        if self._failing:
            log.info("console change feed reads the database again")
        self._failing = False
        return version

    async def close(self) -> None:
        pass
