"""The dashboard's figures over a range of whole days in the union's time zone: riders'
messages per day, what the bot did with their questions, the FAQ entries answered most,
handoff waiting and handling times, and cases by kind (part of Store; see storage.store).

Only counts and durations leave here: no rider text, no rider or conversation ids.

Day bucketing: a day is a calendar day in the configured zone, not a UTC day. Python works
out each day's first second with zoneinfo (DayRange.of), so a day with a summer-time change
is 23 or 25 hours long as it should be, and SQL counts each day as one range of the
(direction, created_at) index. One range a day is also faster than grouping a year's rows by
a computed day in SQL (measured: about 2x on a million messages), since SQLite then has
nothing to sort but a day's rows."""
from __future__ import annotations

import datetime as dt
import itertools
import math
import sqlite3
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from storage.sql import Connection, SQLiteConnection

# The bot's reply outcomes (bot/conversation/) that close a rider's typed question, by what
# happened to it. "chosen" (the rider picked one of the clarify choices) and "menu" (a menu
# button) answer an entry too, but are not a new question: counted for the top entries only,
# so a clarified question that is then answered counts once, as clarified.
QUESTION_OUTCOMES = {"answer": "answered", "clarify": "clarified", "handoff": "handoff",
                     "fallback": "fallback", "emergency": "emergency"}
GROUPS = ("answered", "clarified", "handoff", "fallback", "emergency")
ENTRY_OUTCOMES = ("answer", "chosen", "menu")
_REPLIES_SQL = (
    f"SELECT outcome, CASE WHEN outcome IN ({', '.join('?' * len(ENTRY_OUTCOMES))}) THEN intent END AS entry,"
    " COUNT(*) FROM messages WHERE direction = 'out' AND created_at >= ? AND created_at < ? AND sender = 'bot'"
    " GROUP BY outcome, entry")
TOP_ENTRIES = 10


@dataclass(frozen=True)
class DayRange:
    """Local days first..last in a zone, with bounds[i] the epoch second day i starts at and
    bounds[-1] the end of the last day."""
    first: dt.date
    last: dt.date
    bounds: tuple[float, ...]

    @classmethod
    def of(cls, first: dt.date, last: dt.date, zone_name: str) -> DayRange:
        zone = ZoneInfo(zone_name)
        bounds = tuple(dt.datetime.combine(first + dt.timedelta(days=i), dt.time(0), tzinfo=zone).timestamp()
                       for i in range((last - first).days + 2))
        return cls(first, last, bounds)

    @property
    def start(self) -> float:
        return self.bounds[0]

    @property
    def end(self) -> float:
        return self.bounds[-1]

    def days(self) -> list[tuple[dt.date, float, float]]:
        """(date, its first second, the next day's first second) for each day."""
        return [(self.first + dt.timedelta(days=i), start, end)
                for i, (start, end) in enumerate(itertools.pairwise(self.bounds))]


def summary(values: list[float]) -> dict[str, Any]:
    """Count, median and 90th percentile (nearest rank: a time someone really waited, and at
    least 90% waited no longer) in seconds; None when there is nothing to measure."""
    if not values:
        return {"count": 0, "median": None, "p90": None}
    ordered = sorted(values)
    return {"count": len(ordered), "median": statistics.median(ordered),
            "p90": ordered[math.ceil(0.9 * len(ordered)) - 1]}


class Stats:
    db: Connection

    def dashboard(self, days: DayRange, now: float) -> dict[str, Any]:
        """Everything the dashboard shows except what comes from the FAQ files."""
        per_day, entries = [], {}
        for date, start, end in days.days():
            counts = {"date": date.isoformat(), "messages": self._messages(start, end),
                      **dict.fromkeys(GROUPS, 0), "chosen": 0, "other": 0}
            self._count_replies(start, end, counts, entries)
            per_day.append(counts)
        totals = {key: sum(day[key] for day in per_day) for key in ("messages", *GROUPS, "chosen", "other")}
        top = sorted(entries.items(), key=lambda item: (-item[1], item[0]))[:TOP_ENTRIES]
        return {"days": per_day, "totals": totals, "top_entries": [{"id": i, "count": n} for i, n in top],
                "handoffs": self._handoffs(days, now), "cases": self._cases(days)}

    def _messages(self, start: float, end: float) -> int:
        """What riders sent; events (follow, unfollow, menu clicks) are not messages."""
        return self.db.execute(
            "SELECT COUNT(*) FROM messages WHERE direction = 'in' AND created_at >= ? AND created_at < ?"
            " AND kind != 'event'", [start, end]).fetchone()[0]

    def _count_replies(self, start: float, end: float, counts: dict[str, Any], entries: dict[str, int]) -> None:
        """The engine writes exactly one bot reply per rider message it answers, carrying the
        outcome (bot/conversation/engine.py Engine.handle): counting replies counts each message once.
        Replies that answer an FAQ entry are also counted by entry, in `entries`."""
        for outcome, entry, n in self.db.execute(_REPLIES_SQL, [*ENTRY_OUTCOMES, start, end]):
            group = QUESTION_OUTCOMES.get(outcome) or ("chosen" if outcome == "chosen" else "other")
            counts[group] += n
            if entry:
                entries[entry] = entries.get(entry, 0) + n

    def _handoffs(self, days: DayRange, now: float) -> dict[str, Any]:
        """From the claims table (one row per time a person held a conversation). Waiting: from
        joining the queue to a caseworker claiming it, for claims within the range (a claim
        after a release counts its own wait; a transfer is no wait). Handling: the time people
        held a conversation, summed over its claims, for conversations a person closed (or
        the rider ended while a person held it) within the range."""
        waits = [s for (s,) in self.db.execute(
            "SELECT claimed_at - waited_from FROM claims"
            " WHERE claimed_at >= ? AND claimed_at < ? AND waited_from IS NOT NULL", [days.start, days.end])]
        handling = [s for (s,) in self.db.execute(
            "SELECT SUM(held.ended_at - held.claimed_at) FROM claims last"
            " JOIN claims held ON held.conversation_id = last.conversation_id AND held.ended_at IS NOT NULL"
            " WHERE last.ended_by = 'closed' AND last.ended_at >= ? AND last.ended_at < ?"
            " GROUP BY last.id", [days.start, days.end])]
        waiting, oldest = self.db.execute(
            "SELECT COUNT(*), MIN(waiting_since) FROM conversations WHERE state = 'waiting'").fetchone()
        return {"wait": summary(waits), "handling": summary(handling), "waiting_now": waiting,
                "longest_wait_now": max(now - oldest, 0) if oldest is not None else None}

    def _cases(self, days: DayRange) -> list[dict[str, Any]]:
        """Cases opened and finished (resolved or closed) within the range, by kind."""
        kinds: dict[str, dict[str, Any]] = {}
        for column, key in (("created_at", "opened"), ("closed_at", "closed")):
            for kind, n in self.db.execute(
                    f"SELECT kind, COUNT(*) FROM cases WHERE {column} >= ? AND {column} < ? GROUP BY kind",
                    [days.start, days.end]):
                kinds.setdefault(kind or "", {"kind": kind or "", "opened": 0, "closed": 0})[key] = n
        return sorted(kinds.values(), key=lambda k: (-k["opened"], -k["closed"], k["kind"]))


class StatsReader(Stats):
    """The dashboard's own read-only connection to the database file, run on its own thread
    (wrap it in an AsyncStore). A year of figures over a big database takes a good part of a
    second; on the Store's single thread that would hold up riders' messages, while SQLite's
    WAL mode lets this connection read at the same time as the Store writes."""

    def __init__(self, path: str | Path):
        conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self.db = SQLiteConnection(conn)
        self.db.execute("PRAGMA query_only = ON")  # it never writes, whatever calls it
        self.db.execute("PRAGMA busy_timeout = 5000")

    def close(self) -> None:
        self.db.close()
