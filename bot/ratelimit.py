"""Sliding-window counts per key, in memory, bounded in the number of keys they remember.
A restart forgets, which costs an abuser nothing they could not wait out. The web chat's
limits and the console's log-in limiter both count with SlidingWindows."""
from __future__ import annotations

from collections import OrderedDict, deque


class SlidingWindows:
    """The times of recent events per key, those older than `window` seconds dropped."""

    def __init__(self, window: float, max_keys: int = 10000):
        self.window = window
        self.max_keys = max_keys
        self._times: OrderedDict[str, deque[float]] = OrderedDict()

    def recent(self, key: str, now: float) -> deque[float]:
        times = self._times.setdefault(key, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        return times

    def add(self, key: str, now: float) -> None:
        self.recent(key, now).append(now)
        self._times.move_to_end(key)
        while len(self._times) > self.max_keys:  # a flood of keys must not grow memory
            self._times.popitem(last=False)

    def remove(self, key: str, at: float) -> None:
        """Take back one event counted at `at`."""
        times = self._times.get(key)
        if times is not None and at in times:
            times.remove(at)

    def forget(self, key: str) -> None:
        self._times.pop(key, None)


class RateLimit:
    def __init__(self, limit: int, window: float, max_keys: int = 10000):
        self.limit = limit
        self._windows = SlidingWindows(window, max_keys)

    def allow(self, key: str, now: float) -> bool:
        """Count one event for key, unless the key has used up its window (then False)."""
        if len(self._windows.recent(key, now)) >= self.limit:
            return False
        self._windows.add(key, now)
        return True
