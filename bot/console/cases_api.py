"""Help requests in the console API: the case list with filters, the CSV export for the
union's reports, a case's page data, status changes (with a required note and an optional
notice to the rider), assignment, notes and evidence files."""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import time as time_of_day
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from bot.console.api import path_id, rider_label
from bot.console.auth import STAFF, Staff, handles_conversations, requires
from bot.console.casework import Casework, Refusal
from bot.conversation import Engine
from bot.httputil import BadRequest, csv_response, json_error, parse_day, read_json_object, text_field
from bot.conversation.intake import STATUS_WORDS
from storage import AsyncStore, Store
from storage.cases import CASE_FILTERS, FINISHED, STATUSES

REFERRALS = ("人社", "仲裁", "法律援助")
STATUS_LABELS = {"new": "新登记", "accepted": "已受理", "in_progress": "处理中", "referred": "已转介",
                 "resolved": "已解决", "closed": "已关闭"}
CSV_COLUMNS = (("number", "登记号"), ("kind", "种类"), ("status", "状态"), ("urgent", "紧急"),
               ("platform", "平台"), ("city", "城市"), ("happened", "发生时间"), ("created", "登记时间"),
               ("updated", "更新时间"), ("assigned_to", "负责人"), ("referred_to", "转介到"))


@dataclass
class CasesAPI:
    store: AsyncStore
    casework: Casework
    engine: Engine
    evidence_dir: Path
    timezone: str = "Asia/Shanghai"

    def _filters(self, request: web.Request) -> tuple[dict[str, str], float | None, float | None]:
        q = request.query
        filters = {name: q[name][:100] for name in CASE_FILTERS if q.get(name)}
        return filters, self._date(q.get("from")), self._date(q.get("to"), end=True)

    def _date(self, raw: str | None, end: bool = False) -> float | None:
        """The start of that day in the office's time zone; with end, the start of the next."""
        day = parse_day(raw)
        if day is None:
            return None
        day += timedelta(days=1) if end else timedelta()
        return datetime.combine(day, time_of_day(), ZoneInfo(self.timezone)).timestamp()

    def _kind_title(self, kind_id: str | None) -> str:
        kind = self.engine.brain.kb.case_kind(kind_id)
        return kind.title if kind else (kind_id or "")

    def _row(self, c: dict[str, Any]) -> dict[str, Any]:
        return {"id": c["id"], "number": c["number"], "kind": c["kind"], "kind_title": self._kind_title(c["kind"]),
                "status": c["status"], "status_label": STATUS_LABELS.get(c["status"], c["status"]),
                "urgent": bool(c["urgent"]), "platform": c["platform"], "city": c["city"],
                "happened": c["happened"], "assigned_to": c["assigned_to"], "referred_to": c["referred_to"],
                "created_at": c["created_at"], "updated_at": c["updated_at"]}

    @requires("conversations")
    async def list(self, request: web.Request) -> web.Response:
        filters, since, until = self._filters(request)
        store = self.store.store

        def gather() -> dict[str, Any]:
            return {"cases": store.cases(filters, since, until),
                    "choices": {name: store.case_values(name) for name in ("platform", "city", "assigned_to")}}
        data = await self.store.run(gather)
        return web.json_response({
            "cases": [self._row(c) for c in data["cases"]],
            "kinds": [{"id": k.id, "title": k.title, "urgent": k.urgent} for k in self.engine.brain.kb.case_kinds],
            "statuses": [{"id": s, "label": STATUS_LABELS[s]} for s in STATUSES],
            "referrals": list(REFERRALS), "choices": data["choices"]})

    @requires("conversations")
    async def export(self, request: web.Request) -> web.Response:
        """CSV for the union's reports. No phone numbers or stories: a report needs counts,
        not riders' personal details."""
        filters, since, until = self._filters(request)
        rows = await self.store.run(self.store.store.cases, filters, since, until, None)
        zone = ZoneInfo(self.timezone)
        lines = []
        for c in rows:
            row = self._row(c) | {
                "kind": self._kind_title(c["kind"]), "status": STATUS_LABELS.get(c["status"], c["status"]),
                "urgent": "是" if c["urgent"] else "",
                "created": datetime.fromtimestamp(c["created_at"], zone).strftime("%Y-%m-%d %H:%M"),
                "updated": datetime.fromtimestamp(c["updated_at"], zone).strftime("%Y-%m-%d %H:%M")}
            lines.append([row.get(key) for key, _ in CSV_COLUMNS])
        staff: Staff = request[STAFF]
        await self.store.run(lambda: self.store.store.audit(staff.name, "case_export", "cases", time.time(),
                                                            rows=len(rows), **filters))
        return csv_response([title for _, title in CSV_COLUMNS], lines, "gigdesk-cases.csv")

    @requires("conversations")
    async def detail(self, request: web.Request) -> web.Response:
        case_id = path_id(request, "没有这个登记")
        store = self.store.store

        def gather() -> dict[str, Any] | None:
            case = store.case(case_id)
            if case is None:
                return None
            return {"case": case, "rider": store.rider(case["rider_id"]), "events": store.case_events(case_id),
                    "evidence": store.evidence(case_id), "conversations": store.rider_conversations(case["rider_id"])}
        data = await self.store.run(gather)
        if data is None:
            return json_error(404, "没有这个登记")
        case = data["case"]
        return web.json_response({
            "case": self._row(case) | {"story": case["story"], "phone": case["phone"],
                                       "conversation_id": case["conversation_id"]},
            "rider": {"label": rider_label(data["rider"]), "channel": data["rider"]["channel"]},
            "events": [{"at": e["at"], "actor": e["actor"], "action": e["action"], "note": e["note"],
                        "from_status": e["from_status"], "to_status": e["to_status"]} for e in data["events"]],
            "evidence": [{"id": e["id"], "kind": e["kind"], "state": e["state"], "error": e["error"],
                          "url": f"/api/evidence/{e['id']}" if e["state"] == "saved" else None,
                          "at": e["created_at"]} for e in data["evidence"]],
            "conversations": [{"id": c["id"], "state": c["state"], "created_at": c["created_at"],
                               "messages": c["message_count"]} for c in data["conversations"]],
            "statuses": [{"id": s, "label": STATUS_LABELS[s]} for s in STATUSES],
            "referrals": list(REFERRALS)})

    @requires("conversations")
    async def notice(self, request: web.Request) -> web.Response:
        """The message the rider would get for a status change, for the caseworker to see first."""
        case_id = path_id(request, "没有这个登记")
        status = request.query.get("status", "")
        if status not in STATUSES:
            return json_error(400, "没有这个状态")
        case = await self.store.run(self.store.store.case, case_id)
        if case is None:
            return json_error(404, "没有这个登记")
        return web.json_response({"text": self._notice(case, status, request.query.get("note", "")[:500])})

    def _notice(self, case: dict[str, Any], status: str, note: str) -> str:
        return self.engine.brain.kb.render_message("case_notice", {
            **self.engine.context, "number": case["number"], "status": STATUS_WORDS.get(status, status),
            "note": note})

    @requires("conversations")
    async def change_status(self, request: web.Request) -> web.Response:
        staff: Staff = request[STAFF]
        case_id = path_id(request, "没有这个登记")
        data = await read_json_object(request)
        status = data.get("status")
        if status not in STATUSES:
            raise BadRequest(400, f"状态只能是 {'、'.join(STATUSES)}")
        note = text_field(data, "note", 2000)  # required: every change says why
        referred_to = data.get("referred_to")
        if status == "referred" and referred_to not in REFERRALS:
            raise BadRequest(400, f"转介时要选择转到哪里：{'、'.join(REFERRALS)}")
        notify = data.get("notify") is True
        message = text_field(data, "message", 600) if notify else ""

        def change(store: Store) -> dict[str, Any]:
            case = _existing_case(store, case_id)
            now = time.time()
            store.update_case(case_id, now, status=status, referred_to=referred_to if status == "referred" else
                              case["referred_to"], closed_at=now if status in FINISHED else None)
            store.add_case_event(case_id, staff.name, "status", now, case["status"], status, note)
            if notify:
                conversation = store.open_conversation(case["rider_id"], now)
                # The same rule as a reply: a rider talking to a colleague hears only from them.
                held = conversation["state"] == "assigned" and conversation["assigned_to"] != staff.name
                if held and staff.role != "admin":
                    raise Refusal(409, f"骑手正在和{conversation['assigned_to']}对话，请由他通知，或先请他把会话转给你",
                                  assigned_to=conversation["assigned_to"])
                self.casework.send(store, conversation, staff, message, outcome="case_notice")
                store.add_case_event(case_id, staff.name, "notify", now, note=message)
            store.audit(staff.name, "case_status", f"case:{case['number']}", now, to=status, notify=notify)
            return self._row(store.case(case_id))
        return await self._do(change)

    @requires("conversations")
    async def assign(self, request: web.Request) -> web.Response:
        staff: Staff = request[STAFF]
        case_id = path_id(request, "没有这个登记")
        to = text_field(await read_json_object(request), "to", 32)

        def assign(store: Store) -> dict[str, Any]:
            case = _existing_case(store, case_id)
            # As for conversations: a case someone holds is handed on by them (or an admin).
            holder = case["assigned_to"]
            if holder and holder != staff.name and staff.role != "admin":
                raise Refusal(409, f"这个登记由{holder}负责，只有他或管理员可以改派", assigned_to=holder)
            colleague = store.user_by_name(to)
            if not handles_conversations(colleague):
                raise Refusal(400, f"没有可以负责登记的同事叫“{to}”")
            now = time.time()
            store.update_case(case_id, now, assigned_to=colleague["name"])
            store.add_case_event(case_id, staff.name, "assign", now, note=colleague["name"])
            store.audit(staff.name, "case_assign", f"case:{case['number']}", now, to=colleague["name"])
            return self._row(store.case(case_id))
        return await self._do(assign)

    @requires("conversations")
    async def note(self, request: web.Request) -> web.Response:
        staff: Staff = request[STAFF]
        case_id = path_id(request, "没有这个登记")
        text = text_field(await read_json_object(request), "text", 2000)

        def note(store: Store) -> dict[str, Any]:
            case = _existing_case(store, case_id)
            now = time.time()
            store.add_case_event(case_id, staff.name, "note", now, note=text)
            store.audit(staff.name, "case_note", f"case:{case['number']}", now)
            return {"ok": True}
        return await self._do(note)

    async def _do(self, action) -> web.Response:
        try:
            return web.json_response(await self.casework.run(action))
        except Refusal as refusal:
            return json_error(refusal.status, refusal.message, **refusal.detail)

    @requires("conversations")
    async def evidence_file(self, request: web.Request) -> web.StreamResponse:
        """Files are named by us (case and evidence ids); the stored path is still checked to
        stay inside the evidence folder."""
        evidence_id = path_id(request, "没有这个文件")
        item = await self.store.run(self.store.store.evidence_item, evidence_id)
        if item is None or item["state"] != "saved" or not item["file"]:
            return json_error(404, "没有这个文件")
        root = self.evidence_dir.resolve()
        path = (root / item["file"]).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            return json_error(404, "没有这个文件")
        return web.FileResponse(path, headers={"X-Content-Type-Options": "nosniff",
                                               "Content-Disposition": "inline",
                                               "Content-Security-Policy": "default-src 'none'"})


def _existing_case(store: Store, case_id: int) -> dict[str, Any]:
    case = store.case(case_id)
    if case is None:
        raise Refusal(404, "没有这个登记")
    return case

