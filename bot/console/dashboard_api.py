"""The dashboard for staff: the page /console/dashboard, its figures at GET /api/stats and
the same figures as CSV at GET /api/stats.csv, over a range of days in the union's time zone.

Any signed-in staff member may see it: it holds counts and durations only, and FAQ entry and
case kind titles, never a rider's words or an id of a rider, conversation or case."""
from __future__ import annotations

import datetime as dt
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from bot.console.auth import STAFF, requires
from bot.console.pages import Pages
from bot.conversation import Engine
from bot.httputil import BadRequest, csv_response, parse_day
from knowledge.check import REVIEW_MAX_AGE_DAYS, review_overdue
from knowledge.model import KnowledgeBase
from storage import AsyncStore
from storage.stats import GROUPS, DayRange, StatsReader

DEFAULT_DAYS = 30
MAX_DAYS = 366  # a year, leap day included: enough for an annual report, bounded work
LABELS = {"messages": "骑手发来的消息", "answered": "机器人直接回答", "clarified": "机器人反问是哪个问题",
          "handoff": "转给工作人员", "fallback": "机器人没答上", "emergency": "紧急求助",
          "chosen": "骑手从反问里选了问题", "other": "其他回复（问候、登记步骤等）"}


def parse_range(query: Any, today: dt.date) -> tuple[dt.date, dt.date]:
    """from/to as YYYY-MM-DD; by default the last DEFAULT_DAYS days up to today."""
    last = parse_day(query.get("to")) or today
    first = parse_day(query.get("from")) or last - dt.timedelta(days=DEFAULT_DAYS - 1)
    if last < first:
        raise BadRequest(400, "结束日期不能早于开始日期")
    if (last - first).days + 1 > MAX_DAYS:
        raise BadRequest(400, f"一次最多看 {MAX_DAYS} 天，请把日期范围缩短一些")
    return first, last


def overdue_reviews(kb: KnowledgeBase, today: dt.date) -> list[dict[str, Any]]:
    """The entries `gigdesk kb check` warns about for an old review date (same rule, same limit)."""
    overdue = [(age, e) for e in kb.entries if (age := review_overdue(e, REVIEW_MAX_AGE_DAYS, today)) is not None]
    overdue.sort(key=lambda pair: (pair[1].reviewed, pair[1].id))
    return [{"id": e.id, "title": e.title, "file": e.file, "reviewed": e.reviewed.isoformat(), "age_days": age}
            for age, e in overdue]


@dataclass
class Dashboard:
    pages: Pages
    engine: Engine
    timezone: str
    reader: AsyncStore[StatsReader] | None = None  # opened while the app runs (see setup)
    _reviews: tuple[Any, dt.date, list[dict[str, Any]]] | None = field(default=None, repr=False)

    def today(self) -> dt.date:
        return dt.datetime.now(ZoneInfo(self.timezone)).date()

    @requires("signed_in")
    async def page(self, request: web.Request) -> web.Response:
        return self.pages.render("dashboard.html", staff=request[STAFF])

    @requires("signed_in")
    async def stats(self, request: web.Request) -> web.Response:
        return web.json_response(await self.figures(request))

    @requires("signed_in")
    async def export(self, request: web.Request) -> web.Response:
        figures = await self.figures(request)
        return csv_response(["section", "date", "label", "value"], csv_rows(figures),
                            f"gigdesk-stats-{figures['from']}_{figures['to']}.csv")

    async def figures(self, request: web.Request) -> dict[str, Any]:
        today = self.today()
        first, last = parse_range(request.query, today)
        days = DayRange.of(first, last, self.timezone)
        reader = self.reader
        assert reader is not None, "the app's start-up opens the reader"
        raw = await reader.run(reader.store.dashboard, days, time.time())
        kb = self.engine.brain.kb  # the running version, as the bot answers with it
        totals = raw["totals"]
        questions = sum(totals[g] for g in GROUPS)
        return {
            "from": first.isoformat(), "to": last.isoformat(), "timezone": self.timezone,
            "groups": [{"id": g, "label": LABELS[g]} for g in GROUPS],
            "days": raw["days"],
            "totals": {**totals, "questions": questions},
            "shares": {g: round(totals[g] / questions, 4) if questions else None for g in GROUPS},
            "top_entries": [{**e, "title": _entry_title(kb, e["id"])} for e in raw["top_entries"]],
            "handoffs": _rounded(raw["handoffs"]),
            "cases": [{**c, "title": _kind_title(kb, c["kind"])} for c in raw["cases"]],
            "review": {"max_age_days": REVIEW_MAX_AGE_DAYS, "entries": self._overdue(kb, today)},
        }

    def _overdue(self, kb: KnowledgeBase, today: dt.date) -> list[dict[str, Any]]:
        """Kept until the FAQ files or the date change: checking renders every answer."""
        if self._reviews is None or self._reviews[0] is not kb or self._reviews[1] != today:
            self._reviews = (kb, today, overdue_reviews(kb, today))
        return self._reviews[2]


def _entry_title(kb: KnowledgeBase, entry_id: str) -> str:
    entry = kb.entry(entry_id)
    return entry.title if entry else f"（已删除的问答 {entry_id}）"


def _kind_title(kb: KnowledgeBase, kind_id: str) -> str:
    kind = kb.case_kind(kind_id)
    return kind.title if kind else (kind_id or "（未选种类）")


def _rounded(handoffs: dict[str, Any]) -> dict[str, Any]:
    """Seconds to a tenth: nobody needs microseconds of a wait."""
    def tenth(value: float | None) -> float | None:
        return None if value is None else round(value, 1)
    return {**handoffs, "longest_wait_now": tenth(handoffs["longest_wait_now"]),
            **{k: {**handoffs[k], "median": tenth(handoffs[k]["median"]), "p90": tenth(handoffs[k]["p90"])}
               for k in ("wait", "handling")}}


def csv_rows(f: dict[str, Any]) -> list[list[Any]]:
    """The figures in a tidy layout, one number a row: section, date, label, value. Durations
    in minutes, shares in percent, as a union report states them."""
    rows: list[list[Any]] = []
    for day in f["days"]:
        rows.append(["messages", day["date"], LABELS["messages"], day["messages"]])
        rows += [["outcome", day["date"], LABELS[key], day[key]] for key in (*GROUPS, "chosen", "other")]
    rows += [["share", "", LABELS[g] + "（占问题的百分比）", "" if f["shares"][g] is None else
              round(f["shares"][g] * 100, 1)] for g in GROUPS]
    rows += [["top_entry", "", f"{e['title']}（{e['id']}）", e["count"]] for e in f["top_entries"]]
    for key, what in (("wait", "排队等待接手"), ("handling", "接手到结束")):
        figures = f["handoffs"][key]
        rows.append(["handoff", "", f"{what}：次数", figures["count"]])
        rows += [["handoff", "", f"{what}：{name}（分钟）", _minutes(figures[stat])]
                 for stat, name in (("median", "中位数"), ("p90", "90%的人不超过"))]
    rows.append(["handoff", "", "现在还在等的会话", f["handoffs"]["waiting_now"]])
    for c in f["cases"]:
        rows += [["cases_opened", "", c["title"], c["opened"]], ["cases_closed", "", c["title"], c["closed"]]]
    rows += [["review_overdue", e["reviewed"], f"{e['title']}（{e['id']}）：距上次审核天数", e["age_days"]]
             for e in f["review"]["entries"]]
    return rows


def _minutes(seconds: float | None) -> float | str:
    return "" if seconds is None else round(seconds / 60, 1)


def setup(app: web.Application, pages: Pages, store: AsyncStore, engine: Engine, timezone: str) -> None:
    dashboard = Dashboard(pages, engine, timezone)
    r = app.router
    r.add_get("/console/dashboard", dashboard.page)
    r.add_get("/api/stats", dashboard.stats)
    r.add_get("/api/stats.csv", dashboard.export)

    async def reader(app: web.Application) -> AsyncIterator[None]:
        # Opened at start-up, after the Store has brought the schema up to date.
        dashboard.reader = AsyncStore(store.store.stats_reader())
        yield
        await dashboard.reader.close()
        dashboard.reader = None

    app.cleanup_ctx.append(reader)
