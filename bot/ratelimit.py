"""A sliding-window count per key, in memory, bounded in the number of keys it remembers.
A restart forgets, which costs an abuser nothing they could not wait out."""
from __future__ import annotations

from collections import OrderedDict, deque


class RateLimit:
    def __init__(self, limit: int, window: float, max_keys: int = 10000):
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self._times: OrderedDict[str, deque[float]] = OrderedDict()

    def allow(self, key: str, now: float) -> bool:
        """Count one event for key, unless the key has used up its window (then False)."""
        times = self._times.setdefault(key, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        if len(times) >= self.limit:
            return False
        times.append(now)
        self._times.move_to_end(key)
        while len(self._times) > self.max_keys:  # a flood of keys must not grow memory
            self._times.popitem(last=False)
        return True
