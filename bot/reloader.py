"""Reloads the FAQ files when staff edit them, without a restart. A broken edit keeps the last
good version serving and the problems are kept for the log and the console."""
from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from bot.brain import build_brain
from bot.conversation import Engine
from knowledge import Problem, load_knowledge

log = logging.getLogger("gigdesk.knowledge")


def snapshot(directory: Path) -> dict[str, tuple[int, int]]:
    """Modification time and size of every knowledge file: any edit changes one of them."""
    files = list(directory.glob("*.yaml")) + list((directory / "faq").glob("*.yaml"))
    result = {}
    for path in files:
        try:
            st = path.stat()
        except FileNotFoundError:  # removed between glob and stat
            continue
        result[str(path)] = (st.st_mtime_ns, st.st_size)
    return result


class KnowledgeWatcher:
    def __init__(self, directory: str | Path, engine: Engine, poll_seconds: float):
        self.directory = Path(directory)
        self.engine = engine
        self.poll_seconds = poll_seconds
        self.problems: list[Problem] = []  # from the last load attempt
        self.reloads = 0
        self.failures = 0
        self._seen = snapshot(self.directory)
        # One check at a time: when the console's save and the poll both notice a write, the
        # second waits for the first, and so returns only once the files on disk are serving.
        self._lock = asyncio.Lock()

    async def check_once(self) -> bool:
        """Reload if the files changed; True when a new version is now serving. When this
        returns, whatever was on disk when it was called is served (or refused as broken)."""
        async with self._lock:
            current = snapshot(self.directory)
            if current == self._seen:
                return False
            self._seen = current
            kb, problems = await asyncio.to_thread(load_knowledge, self.directory)
            self.problems = problems
            if kb is None:
                self.failures += 1
                log.error("knowledge files have errors; still serving the last good version:\n%s",
                          "\n".join(str(p) for p in problems))
                return False
            self.engine.brain = await asyncio.to_thread(build_brain, kb, self.engine.brain.memo.size)
            self.reloads += 1
            log.info("knowledge reloaded: %d entries", len(kb.entries))
            return True

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.poll_seconds)
            try:
                await self.check_once()
            except Exception:  # keep watching whatever one reload did; the error is logged
                self.failures += 1  # counted like a broken edit, for /metrics
                log.exception("knowledge reload failed")
