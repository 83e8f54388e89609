"""Office hours: when the union's caseworkers are on duty.

Outside these hours no person reads the chat, so a rider who asks for help must be told
honestly when someone will reply ("明天（周二）09:00") instead of waiting in silence.
The spec comes from gigdesk.toml, e.g. "mon-fri 09:00-18:00; sat 09:00-12:00"; "always" or ""
(nothing configured) means always staffed. Pure module: no I/O, times in the given IANA zone.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import groupby
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CN_DAYS = tuple("周" + c for c in "一二三四五六日")
ALWAYS = tuple((d, 0, 24 * 60) for d in range(7))
_TIME = re.compile(r"(\d{1,2}):(\d{2})")


class OfficeHoursError(ValueError):
    """The office_hours or timezone setting cannot be understood; the message names the bad part."""


def _day(name: str, group: str) -> int:
    if name.lower() not in DAYS:
        raise OfficeHoursError(f"office hours: unknown day {name!r} in {group!r} (use mon tue wed thu fri sat sun)")
    return DAYS.index(name.lower())


def _minutes(text: str, group: str, *, end: bool) -> int:
    m = _TIME.fullmatch(text)
    hours, mins = (int(m[1]), int(m[2])) if m else (99, 99)
    if not m or mins > 59 or hours > 24 or (hours == 24 and (mins or not end)):
        raise OfficeHoursError(f"office hours: bad time {text!r} in {group!r} (use HH:MM, e.g. 09:00)")
    return hours * 60 + mins


def _parse_group(group: str) -> list[tuple[int, int, int]]:
    parts = re.sub(r"\s*([,-])\s*", r"\1", group).split(None, 1)  # "mon - fri" is fine too
    if len(parts) != 2:
        raise OfficeHoursError(f"office hours: cannot read {group!r} (expected e.g. \"mon-fri 09:00-18:00\")")
    days: list[int] = []
    for item in parts[0].split(","):
        first, dash, last = item.partition("-")
        a = _day(first, group)
        b = _day(last, group) if dash else a
        days += [(a + i) % 7 for i in range((b - a) % 7 + 1)]  # sat-mon wraps the week
    spans = []
    for item in re.split(r"[,\s]+", parts[1]):
        start, dash, stop = item.partition("-")
        if not dash:
            raise OfficeHoursError(f"office hours: bad time range {item!r} in {group!r} (use HH:MM-HH:MM)")
        s, e = _minutes(start, group, end=False), _minutes(stop, group, end=True)
        if e <= s:
            raise OfficeHoursError(f"office hours: {item!r} in {group!r} ends before it starts "
                                   "(overnight spans are not supported; split them at 24:00)")
        spans += [(d, s, e) for d in days]
    return spans


def _merge(spans: list[tuple[int, int, int]]) -> tuple[tuple[int, int, int], ...]:
    merged: list[list[int]] = []
    for d, s, e in sorted(set(spans)):
        if merged and merged[-1][0] == d and s <= merged[-1][2]:
            merged[-1][2] = max(merged[-1][2], e)
        else:
            merged.append([d, s, e])
    return tuple((d, s, e) for d, s, e in merged)


def _day_list(days: list[int]) -> str:  # [0, 1, 2, 4] -> 周一至周三、周五
    runs = [[d for _, d in run] for _, run in groupby(enumerate(days), lambda pair: pair[1] - pair[0])]
    return "、".join(f"{CN_DAYS[r[0]]}至{CN_DAYS[r[-1]]}" if len(r) > 2 else "、".join(CN_DAYS[d] for d in r)
                    for r in runs)


@dataclass(frozen=True)
class OfficeHours:
    spans: tuple[tuple[int, int, int], ...]  # (weekday 0=Monday, start minute, end minute), merged per day
    tz: ZoneInfo

    @classmethod
    def parse(cls, spec: str, timezone: str = "Asia/Shanghai") -> OfficeHours:
        try:
            tz = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise OfficeHoursError(f"unknown timezone {timezone!r} (use an IANA name such as Asia/Shanghai)") from None
        text = spec.strip()
        if text.lower() in ("", "always"):
            return cls(ALWAYS, tz)
        groups = [g.strip() for g in text.split(";") if g.strip()]
        if not groups:
            raise OfficeHoursError(f"office hours: no days and times in {spec!r}")
        return cls(_merge([span for g in groups for span in _parse_group(g)]), tz)

    def is_open(self, at: float) -> bool:
        local = datetime.fromtimestamp(at, self.tz)
        now = local.hour * 60 + local.minute
        return any(d == local.weekday() and s <= now < e for d, s, e in self.spans)

    def next_open(self, at: float) -> float | None:
        if self.is_open(at):
            return at
        today = datetime.fromtimestamp(at, self.tz).date()
        starts = (datetime(day.year, day.month, day.day, tzinfo=self.tz) + timedelta(minutes=s)
                  for day in (today + timedelta(days=i) for i in range(8))
                  for d, s, _ in self.spans if d == day.weekday())
        return min((t for t in (dt.timestamp() for dt in starts) if t > at), default=None)

    def describe_next(self, at: float) -> str:
        when = self.next_open(at)
        if when is None or when == at:
            return ""
        local = datetime.fromtimestamp(when, self.tz)
        ahead = (local.date() - datetime.fromtimestamp(at, self.tz).date()).days
        weekday = CN_DAYS[local.weekday()]
        day = "今天 " if ahead == 0 else f"明天（{weekday}）" if ahead == 1 else f"{weekday} "
        return f"{day}{local:%H:%M}"

    def describe(self) -> str:
        if self.spans == ALWAYS:
            return "每天 24 小时"
        by_day: dict[int, list[str]] = {}
        for d, s, e in self.spans:
            by_day.setdefault(d, []).append(f"{s // 60:02d}:{s % 60:02d}-{e // 60:02d}:{e % 60:02d}")
        groups: dict[str, list[int]] = {}
        for d in sorted(by_day):
            groups.setdefault("、".join(by_day[d]), []).append(d)
        return "；".join(f"{_day_list(days)} {times}" for times, days in groups.items())
