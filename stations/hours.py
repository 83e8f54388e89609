"""Opening hours as unions write them, and whether a station is open at a moment.

Accepted (full-width or half-width, any spaces): "24小时" / "全天" / "00:00-24:00";
"08:00-20:00" (also 8:00～20:00, 8点-20点, 8:00至20:00); overnight "20:00-次日06:00" or
"20:00-06:00"; several ranges "08:00-12:00,14:00-18:00"; days before the times:
"周一至周五 9:00-18:00", "周六、周日 10:00-16:00", "工作日", "周末", "每天"; several
rules separated by ";" or "；": "周一至周五 9:00-18:00；周六 9:00-12:00". Days not named
in any rule are closed days. Anything else is refused with the reason, so a rider is never told
"open now" from a guess."""
from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass

DAY_NAMES = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6, "七": 6,
             "1": 0, "2": 1, "3": 2, "4": 3, "5": 4, "6": 5, "7": 6}
DAY_WORDS = {"每天": range(7), "每日": range(7), "全周": range(7), "天天": range(7), "工作日": range(5),
             "周末": (5, 6), "双休日": (5, 6)}
ALWAYS = re.compile(r"^(24小时|24h|24小时开放|全天|全天开放|全天候|全天24小时|24小时全天)$", re.I)
TIME = r"(\d{1,2})(?:[:：.](\d{2})|点(?:(\d{1,2})分?|半)?)"
RANGE = re.compile(TIME + r"\s*(?:-|~|～|—|–|至|到)\s*(次日|第二天|翌日)?\s*" + TIME)
DAY_PART = re.compile(r"^(?:(?:周|星期|礼拜)([一二三四五六日天1-7])(?:\s*(?:至|到|-|~|～|—)\s*(?:周|星期|礼拜)?"
                      r"([一二三四五六日天1-7]))?)$")


class HoursError(ValueError):
    """The hours cannot be read; the message says how to write them."""


@dataclass(frozen=True)
class Span:
    days: frozenset[int]  # 0 = Monday
    start: int  # minutes after midnight
    end: int  # may pass 1440 for a span that ends the next morning


@dataclass(frozen=True)
class Hours:
    text: str
    spans: tuple[Span, ...]  # empty: hours not given

    @property
    def known(self) -> bool:
        return bool(self.spans)

    def _left(self, at: dt.datetime) -> int | None:
        minute = at.hour * 60 + at.minute
        weekday = at.weekday()
        best = None
        for span in self.spans:
            if weekday in span.days and span.start <= minute < span.end:
                left = span.end - minute
            elif (weekday - 1) % 7 in span.days and minute + 1440 < span.end:
                left = span.end - minute - 1440
            else:
                continue
            best = left if best is None else max(best, left)
        return best

    def is_open(self, at: dt.datetime) -> bool | None:
        """At `at` (local time): True or False, None when the hours are not given."""
        if not self.known:
            return None
        return self._left(at) is not None

    def closes_within(self, at: dt.datetime, minutes: int = 60) -> int | None:
        """Minutes until it closes, when that is within `minutes`: a rider 20 minutes away
        needs to know the door shuts in 15. None when open longer, closed or unknown."""
        left = self._left(at)
        if left is None or left > minutes:
            return None
        if self._left(at + dt.timedelta(minutes=left)) is not None:
            return None  # the next span carries on (24小时 on consecutive days, 23:00-次日...)
        return left


def _clean(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip()


def _minutes(groups: tuple[str | None, ...], whole: str) -> int:
    hour, minute, dian_minute = groups
    if minute is None:
        minute = "30" if whole.endswith("半") else (dian_minute or "0")
    h, m = int(hour), int(minute)
    if h > 24 or m > 59 or (h == 24 and m):
        raise HoursError(f"时间 {whole} 不对")
    return h * 60 + m


def _days(part: str) -> frozenset[int]:
    part = part.strip()
    if not part:
        return frozenset(range(7))
    days: set[int] = set()
    for piece in re.split(r"[、,，和及/]", part):
        piece = piece.strip()
        if piece in DAY_WORDS:
            days.update(DAY_WORDS[piece])
            continue
        found = DAY_PART.match(piece)
        if not found:
            raise HoursError(f"看不懂“{piece}”是哪几天（写成 周一至周五、周六、工作日、周末、每天）")
        first = DAY_NAMES[found.group(1)]
        last = DAY_NAMES[found.group(2)] if found.group(2) else first
        day = first
        while True:
            days.add(day)
            if day == last:
                break
            day = (day + 1) % 7
    return frozenset(days)


def _rule(rule: str) -> list[Span]:
    ranges = list(RANGE.finditer(rule))
    head = rule[:ranges[0].start()] if ranges else rule
    tail_always = None
    if not ranges:
        # "周一至周五 24小时", "每天全天"
        for word in ("24小时", "全天"):
            if rule.endswith(word):
                head, tail_always = rule[: -len(word)], word
        if tail_always is None:
            raise HoursError(f"看不懂开放时间“{rule}”（写成 08:00-20:00、24小时、周一至周五 9:00-18:00）")
    days = _days(head.rstrip(":： "))
    if tail_always:
        return [Span(days, 0, 1440)]
    spans, last = [], ranges[0].start()
    for found in ranges:
        between = rule[last:found.start()].strip(" ,，、和")
        if last != ranges[0].start() and between:
            raise HoursError(f"看不懂开放时间里的“{between}”")
        start = _minutes(found.groups()[0:3], found.group(0).split("-")[0])
        end = _minutes(found.groups()[4:7], found.group(0))
        if found.group(4) or end <= start:  # 次日, or 20:00-06:00
            end += 1440
        if end - start > 1440:
            raise HoursError(f"时间段 {found.group(0)} 超过了 24 小时")
        spans.append(Span(days, start, end))
        last = found.end()
    rest = rule[last:].strip(" ,，、。")
    if rest:
        raise HoursError(f"看不懂开放时间里的“{rest}”")
    return spans


def parse_hours(text: str | None) -> Hours:
    """Hours from the directory's text; empty text gives unknown hours. Raises HoursError."""
    raw = (text or "").strip()
    cleaned = _clean(raw)
    if not cleaned:
        return Hours(raw, ())
    if ALWAYS.match(cleaned.replace(" ", "")):
        return Hours(raw, (Span(frozenset(range(7)), 0, 1440),))
    spans: list[Span] = []
    for rule in re.split(r"[;；\n]", cleaned):
        if rule.strip():
            spans.extend(_rule(rule.strip()))
    return Hours(raw, tuple(spans))
