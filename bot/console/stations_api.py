"""The station directory in the console, for editors (permission "faq", as the FAQ): list and
search, edit, disable, add, import a CSV with a preview of what it changes, every change kept
with who, when, before and after; the stations due for a check (dashboard). Every field is
checked as `gigdesk stations import` checks a row. The pages are shells that stations.js fills
from these routes, putting every text in as text."""
from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

from aiohttp import web

from bot.console.auth import STAFF, requires
from bot.console.pages import Pages
from bot.httputil import BadRequest, json_error, parse_id, read_json_object
from stations.csvfile import MAX_ROWS, check_fields, parse_csv
from storage import AsyncStore

MAX_IMPORT_BYTES = 32 * 1024 * 1024  # 200,000 rows of a national list
PAGE = 100


def _station_id(request: web.Request) -> int:
    found = parse_id(request.match_info["id"], max_digits=12)
    if found is None:
        raise BadRequest(404, "没有这个驿站")
    return found


def _view(row: dict[str, Any]) -> dict[str, Any]:
    return {**{k: row[k] for k in ("id", "name", "address", "lat", "lng", "hours", "phone", "city", "district",
                                   "updated")},
            "services": [s for s in (row["services"] or "").split(",") if s],
            "open_to_all": bool(row["open_to_all"]), "enabled": bool(row["enabled"]), "sample": bool(row["sample"])}


def _change_view(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "at": row["at"], "actor": row["actor"], "action": row["action"],
            "station_id": row["station_id"], "before": json.loads(row["before"] or "null"),
            "after": json.loads(row["after"] or "null")}


class StationsAPI:
    def __init__(self, pages: Pages, store: AsyncStore, stale_days: int):
        self.pages = pages
        self.store = store
        self.stale_days = stale_days

    @requires("faq")
    async def page(self, request: web.Request) -> web.Response:
        return self.pages.render("stations.html", staff=request[STAFF], stale_days=self.stale_days)

    @requires("faq")
    async def list(self, request: web.Request) -> web.Response:
        words = request.query.get("q", "")[:100]
        offset = parse_id(request.query.get("offset", "0"), max_digits=7)
        if offset is None:
            return json_error(400, "offset 应当是数字")
        s = self.store.store
        rows = await self.store.run(lambda: s.search_stations(words, limit=PAGE + 1, offset=offset))
        return web.json_response({"stations": [_view(r) for r in rows[:PAGE]], "more": len(rows) > PAGE,
                                  "offset": offset})

    @requires("faq")
    async def one(self, request: web.Request) -> web.Response:
        station_id = _station_id(request)
        s = self.store.store
        row, changes = await self.store.run(lambda: (s.station(station_id), s.station_changes(station_id)))
        if row is None:
            return json_error(404, "没有这个驿站")
        return web.json_response({"station": _view(row), "changes": [_change_view(c) for c in changes]})

    @requires("faq")
    async def save(self, request: web.Request) -> web.Response:
        return await self._save(request, _station_id(request))

    @requires("faq")
    async def create(self, request: web.Request) -> web.Response:
        return await self._save(request, None)

    async def _save(self, request: web.Request, station_id: int | None) -> web.Response:
        data = await read_json_object(request, 16384)
        s = self.store.store
        if station_id is not None:
            current = await self.store.run(s.station, station_id)
            if current is None:
                return json_error(404, "没有这个驿站")
            data = {**_view(current), **data}
        row, reasons = check_fields(data)
        if row is None:
            return json_error(400, "这样改不行，原因见下", reasons=reasons)
        actor = request[STAFF].name
        try:
            saved = await self.store.run(s.save_station, row.fields(), actor, time.time(), station_id)
        except LookupError:
            return json_error(404, "没有这个驿站")
        except ValueError:
            return json_error(409, "已经有一个名称和地址都相同的驿站")
        return web.json_response({"station": _view(saved)}, status=200 if station_id else 201)

    @requires("faq")
    async def import_csv(self, request: web.Request) -> web.Response:
        """{"csv": the file's text, "apply": false} previews; "apply": true imports, all or nothing."""
        data = await read_json_object(request, MAX_IMPORT_BYTES)
        text = data.get("csv")
        if not isinstance(text, str) or not text.strip():
            return json_error(400, "csv 应当是 CSV 文件的内容")
        apply, replace = data.get("apply", False), data.get("replace", False)
        if not isinstance(apply, bool) or not isinstance(replace, bool):
            return json_error(400, "apply 和 replace 应当是 true 或 false")
        parsed = parse_csv(text)
        problems = [{"line": p.line, "message": p.message} for p in parsed.problems]
        if problems:
            return json_error(400, f"有 {len(problems)} 处问题，什么都没有导入", problems=problems,
                              ignored_columns=parsed.ignored_columns)
        s = self.store.store
        rows = [r.fields() for r in parsed.rows[:MAX_ROWS]]
        diff = await self.store.run(lambda: s.import_stations(rows, request[STAFF].name, time.time(),
                                                              replace=replace, dry_run=not apply))
        return web.json_response({"applied": apply, "rows": len(rows), "added": diff["added"][:200],
                                  "changed": diff["changed"][:200], "disabled": diff["disabled"][:200],
                                  "counts": {k: (v if isinstance(v, int) else len(v)) for k, v in diff.items()},
                                  "ignored_columns": parsed.ignored_columns})

    @requires("signed_in")
    async def stale(self, request: web.Request) -> web.Response:
        before = (dt.date.today() - dt.timedelta(days=self.stale_days)).isoformat()
        total, rows = await self.store.run(self.store.store.stale_stations, before, 100)
        return web.json_response({"days": self.stale_days, "before": before, "total": total,
                                  "stations": [_view(r) for r in rows]})


def setup(app: web.Application, pages: Pages, store: AsyncStore, stale_days: int) -> None:
    api = StationsAPI(pages, store, stale_days)
    r = app.router
    r.add_get("/console/stations", api.page)
    r.add_get("/api/stations", api.list)
    r.add_post("/api/stations", api.create)
    r.add_get("/api/stations/stale", api.stale)
    r.add_post("/api/stations/import", api.import_csv)
    r.add_get("/api/stations/{id}", api.one)
    r.add_post("/api/stations/{id}", api.save)
