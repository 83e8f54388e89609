"""Office hours: parsing with one clear line per mistake, open/closed, and when a person is back."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bot.office_hours import OfficeHours, OfficeHoursError

SH = ZoneInfo("Asia/Shanghai")
WEEKDAYS = "mon-fri 09:00-18:00; sat 09:00-12:00"


def ts(*args: int, tz: ZoneInfo = SH) -> float:
    """Epoch seconds of a wall time. 2026-11-19 is a Thursday, 2026-11-20 a Friday, 2026-11-23 a Monday."""
    return datetime(*args, tzinfo=tz).timestamp()


def test_calendar_used_by_these_tests():
    assert [datetime(2026, 11, d).strftime("%a") for d in (19, 20, 21, 22, 23)] == ["Thu", "Fri", "Sat", "Sun", "Mon"]


@pytest.mark.parametrize(("spec", "named", "why"), [
    ("Mon-Fry 09:00-18:00", "'Fry' in 'Mon-Fry 09:00-18:00'", "unknown day"),
    ("mon 09:60-18:00", "'09:60'", "bad time"),
    ("mon 25:00-26:00", "'25:00'", "bad time"),
    ("mon 24:00-24:00", "'24:00'", "bad time"),
    ("mon 9am-5pm", "'9am'", "bad time"),
    ("mon 09:00", "'09:00'", "bad time range"),
    ("mon 18:00-09:00", "'18:00-09:00'", "ends before it starts"),
    ("mon 09:00-09:00", "'09:00-09:00'", "ends before it starts"),
    ("mon-fri 09:00-18:00; sat 12:00-10:00", "'sat 12:00-10:00'", "ends before it starts"),
    ("hello", "'hello'", "cannot read"),
    (" ; ", "' ; '", "no days and times"),
])
def test_parse_errors_name_the_bad_part_in_one_line(spec, named, why):
    with pytest.raises(OfficeHoursError) as caught:
        OfficeHours.parse(spec)
    message = str(caught.value)
    assert named in message and why in message and "\n" not in message
    assert isinstance(caught.value, ValueError)


def test_unknown_timezone_is_named():
    with pytest.raises(OfficeHoursError, match="unknown timezone 'Asia/Shanghia'"):
        OfficeHours.parse("mon-fri 09:00-18:00", "Asia/Shanghia")
    with pytest.raises(OfficeHoursError, match="unknown timezone"):
        OfficeHours.parse("mon-fri 09:00-18:00", "")


def test_spec_is_case_and_space_tolerant():
    assert OfficeHours.parse("MON - Fri 09:00 - 18:00") == OfficeHours.parse("mon-fri 09:00-18:00")
    assert OfficeHours.parse("mon, wed 9:00-12:00 14:00-17:30;") == OfficeHours.parse("mon,wed 09:00-12:00,14:00-17:30")


def test_is_open_start_inclusive_end_exclusive():
    hours = OfficeHours.parse(WEEKDAYS)
    assert not hours.is_open(ts(2026, 11, 20, 8, 59, 59))
    assert hours.is_open(ts(2026, 11, 20, 9, 0))
    assert hours.is_open(ts(2026, 11, 20, 17, 59, 59))
    assert not hours.is_open(ts(2026, 11, 20, 18, 0))
    assert hours.is_open(ts(2026, 11, 21, 11, 0))       # Saturday morning
    assert not hours.is_open(ts(2026, 11, 21, 12, 0))   # Saturday noon
    assert not hours.is_open(ts(2026, 11, 22, 10, 0))   # Sunday


def test_times_are_read_in_the_configured_timezone():
    berlin = ZoneInfo("Europe/Berlin")
    hours = OfficeHours.parse("mon-fri 09:00-18:00", "Europe/Berlin")
    assert not hours.is_open(ts(2026, 11, 20, 15, 0))   # 08:00 in Berlin
    assert hours.is_open(ts(2026, 11, 20, 17, 0))       # 10:00 in Berlin
    # Over the spring DST change (Sunday 2026-03-29) the opening is still 09:00 Berlin wall time.
    assert hours.next_open(ts(2026, 3, 27, 18, 30, tz=berlin)) == ts(2026, 3, 30, 9, 0, tz=berlin)
    sunday = OfficeHours.parse("sun 09:00-10:00", "Europe/Berlin")  # clocks jump 02:00 -> 03:00 that morning
    assert sunday.next_open(ts(2026, 3, 29, 1, 0, tz=berlin)) == ts(2026, 3, 29, 9, 0, tz=berlin)


def test_end_may_be_midnight():
    hours = OfficeHours.parse("sun 20:00-24:00; mon 00:00-02:00")
    assert hours.is_open(ts(2026, 11, 22, 23, 59))
    assert hours.is_open(ts(2026, 11, 23, 1, 0))
    assert not hours.is_open(ts(2026, 11, 23, 2, 0))
    assert hours.describe() == "周一 00:00-02:00；周日 20:00-24:00"


def test_next_open_over_the_weekend():
    hours = OfficeHours.parse("mon-fri 09:00-18:00")
    assert hours.next_open(ts(2026, 11, 20, 18, 30)) == ts(2026, 11, 23, 9, 0)
    assert hours.next_open(ts(2026, 11, 20, 18, 0)) == ts(2026, 11, 23, 9, 0)


def test_next_open_later_the_same_day_and_now_when_open():
    hours = OfficeHours.parse(WEEKDAYS)
    assert hours.next_open(ts(2026, 11, 20, 7, 0)) == ts(2026, 11, 20, 9, 0)
    assert hours.next_open(ts(2026, 11, 20, 8, 59, 59)) == ts(2026, 11, 20, 9, 0)
    open_now = ts(2026, 11, 20, 10, 15, 30)
    assert hours.next_open(open_now) == open_now
    assert hours.next_open(ts(2026, 11, 20, 18, 30)) == ts(2026, 11, 21, 9, 0)  # Saturday morning


def test_next_open_after_the_lunch_break():
    hours = OfficeHours.parse("mon,wed,fri 09:00-12:00,14:00-17:30")
    assert not hours.is_open(ts(2026, 11, 20, 12, 30))
    assert hours.next_open(ts(2026, 11, 20, 12, 30)) == ts(2026, 11, 20, 14, 0)
    assert hours.next_open(ts(2026, 11, 18, 17, 30)) == ts(2026, 11, 20, 9, 0)  # Wednesday evening -> Friday
    assert not hours.is_open(ts(2026, 11, 19, 10, 0))                          # Thursday


def test_day_range_may_wrap_the_week():
    hours = OfficeHours.parse("sat-mon 10:00-16:00")
    assert [hours.is_open(ts(2026, 11, d, 12, 0)) for d in (20, 21, 22, 23, 24)] == [False, True, True, True, False]
    assert hours.next_open(ts(2026, 11, 20, 12, 0)) == ts(2026, 11, 21, 10, 0)
    assert hours.next_open(ts(2026, 11, 23, 16, 0)) == ts(2026, 11, 28, 10, 0)


def test_overlapping_spans_are_merged():
    hours = OfficeHours.parse("mon 09:00-12:00; mon 11:00-13:00,12:30-14:00")
    assert hours.is_open(ts(2026, 11, 23, 13, 30))
    assert not hours.is_open(ts(2026, 11, 23, 14, 0))
    assert hours.describe() == "周一 09:00-14:00"
    assert OfficeHours.parse("mon 09:00-12:00,12:00-14:00").describe() == "周一 09:00-14:00"  # touching spans join


def test_describe_next_today_tomorrow_and_later():
    hours = OfficeHours.parse("mon-fri 09:00-18:00")
    assert hours.describe_next(ts(2026, 11, 20, 10, 0)) == ""
    assert hours.describe_next(ts(2026, 11, 20, 7, 0)) == "今天 09:00"
    assert hours.describe_next(ts(2026, 11, 19, 18, 30)) == "明天（周五）09:00"
    assert hours.describe_next(ts(2026, 11, 20, 18, 30)) == "周一 09:00"
    assert hours.describe_next(ts(2026, 11, 22, 23, 0)) == "明天（周一）09:00"
    assert OfficeHours.parse(WEEKDAYS).describe_next(ts(2026, 11, 20, 18, 30)) == "明天（周六）09:00"
    lunch = OfficeHours.parse("mon-fri 09:00-12:00,14:00-17:30")
    assert lunch.describe_next(ts(2026, 11, 20, 12, 30)) == "今天 14:00"


def test_describe_next_a_week_ahead():
    hours = OfficeHours.parse("mon 09:00-10:00")
    assert hours.next_open(ts(2026, 11, 23, 10, 30)) == ts(2026, 11, 30, 9, 0)
    assert hours.describe_next(ts(2026, 11, 23, 10, 30)) == "周一 09:00"
    assert hours.describe_next(ts(2026, 11, 24, 9, 0)) == "周一 09:00"


@pytest.mark.parametrize("spec", ["always", "ALWAYS", " always ", ""])
def test_always_and_unset_mean_always_staffed(spec):
    hours = OfficeHours.parse(spec)
    assert hours == OfficeHours.parse("mon-sun 00:00-24:00")
    for at in (ts(2026, 11, 20, 3, 0), ts(2026, 11, 22, 23, 59, 59), ts(2026, 11, 23, 0, 0)):
        assert hours.is_open(at)
        assert hours.next_open(at) == at
        assert hours.describe_next(at) == ""
    assert hours.describe() == "每天 24 小时"


def test_never_open_has_no_next_opening():
    hours = OfficeHours((), SH)
    assert not hours.is_open(ts(2026, 11, 20, 10, 0))
    assert hours.next_open(ts(2026, 11, 20, 10, 0)) is None
    assert hours.describe_next(ts(2026, 11, 20, 10, 0)) == ""


def test_describe_whole_schedule():
    assert OfficeHours.parse(WEEKDAYS).describe() == "周一至周五 09:00-18:00；周六 09:00-12:00"
    assert (OfficeHours.parse("mon,wed,fri 09:00-12:00,14:00-17:30").describe()
            == "周一、周三、周五 09:00-12:00、14:00-17:30")
    assert OfficeHours.parse("sat-sun 10:00-16:00").describe() == "周六、周日 10:00-16:00"
    assert (OfficeHours.parse("mon-thu 09:00-18:00; fri 09:00-16:00; sun 09:00-18:00").describe()
            == "周一至周四、周日 09:00-18:00；周五 09:00-16:00")
