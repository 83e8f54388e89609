"""Live updates for open console pages: server-sent events that say "something changed", after
which the page fetches what it shows through the JSON API. One message per change burst keeps
a busy hour from flooding the browser; the data itself always comes from the API."""
from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp_sse import sse_response

COALESCE_SECONDS = 0.3
RECHECK_SECONDS = 15.0


class Hub:
    """A version number and a way to wait for it to move. Called on the event loop only."""

    def __init__(self) -> None:
        self.version = 0
        self.closed = False
        self._moved = asyncio.Event()
        # Told of every change made here, to pass on to other processes sharing the database
        # (storage.postgres.ChangeFeed's NOTIFY); None with SQLite, whose commits announce
        # themselves (storage.live.SQLiteChangeFeed).
        self.on_local_change: Callable[[], None] | None = None

    def changed(self) -> None:
        self._move()
        if self.on_local_change is not None and not self.closed:
            self.on_local_change()

    def changed_elsewhere(self) -> None:
        """Another process changed something: wake the pages, announce nothing."""
        self._move()

    def _move(self) -> None:
        self.version += 1
        self._moved.set()
        self._moved = asyncio.Event()

    def close(self) -> None:
        """At shutdown: wake every listener so its stream ends."""
        self.closed = True
        self._move()

    async def wait_past(self, version: int, timeout: float) -> int:
        if self.version == version and not self.closed:
            try:
                await asyncio.wait_for(self._moved.wait(), timeout)
            except asyncio.TimeoutError:
                pass
        return self.version


async def stream(request: web.Request, hub: Hub, still_allowed: Callable[[], Awaitable[bool]]) -> web.StreamResponse:
    """Until the page goes away, the server stops, or the session behind it ends (logged out,
    expired, the account disabled): still_allowed is asked after every wake, at least every
    RECHECK_SECONDS, so no stream outlives the access it was opened with."""
    async with sse_response(request, ping_interval=15) as response:
        version = -1
        try:
            while response.is_connected() and not hub.closed and await still_allowed():
                if version != hub.version:
                    version = hub.version
                    await response.send(json.dumps({"version": version}), event="changed")
                    await asyncio.sleep(COALESCE_SECONDS)
                await hub.wait_past(version, timeout=RECHECK_SECONDS)
        except ConnectionResetError:  # the tab closed while we wrote: the normal end of a stream
            pass
    return response
