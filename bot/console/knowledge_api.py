"""FAQ editing in the console, for the editor role (permission "faq"): the entry list, the
edit and new-entry forms, the answer preview, the change history with revert, and the
"try it" panel that shows what the running matcher makes of a question.

The pages are shells; faq_list.js, faq_entry.js and try.js fill them from the /api routes
below, putting every text in as text."""
from __future__ import annotations

import datetime as dt
import logging
import time
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.console.auth import STAFF, requires
from bot.console.faq_editing import FAQ_EDITING, EditRefused, FaqEditing, parse_fields
from bot.console.pages import Pages
from bot.conversation import CHANNEL_BYTE_LIMITS, Engine
from bot.httputil import BadRequest, json_error, parse_id, read_json_object, text_field
from bot.reloader import KnowledgeWatcher
from bot.textparts import split_to_bytes, utf8_len
from intents import decide
from knowledge.check import REVIEW_MAX_AGE_DAYS
from knowledge.editor import valid_id
from knowledge.loader import parse_entry
from storage import AsyncStore

log = logging.getLogger("gigdesk.console")
MAX_BODY = 256 * 1024  # a whole entry with 300 phrasings fits
MAX_TRY_CHARS = 500
MAX_UNANSWERED_IDS = 3000


def refused(error: EditRefused) -> web.Response:
    status = 404 if error.missing else 409 if error.conflict else 400
    return json_error(status, error.reasons[0] if len(error.reasons) == 1 else "这样改不行，原因见下",
                      reasons=error.reasons, warnings=error.warnings)


def entry_id_of(request: web.Request) -> str:
    entry_id = request.match_info["id"]
    if not valid_id(entry_id):
        raise BadRequest(404, "没有这条问答")
    return entry_id


def unanswered_ids(data: dict[str, Any]) -> list[int]:
    ids = data.get("unanswered_ids") or []
    if not isinstance(ids, list) or len(ids) > MAX_UNANSWERED_IDS or not all(
            isinstance(i, int) and not isinstance(i, bool) and 0 < i < 10**12 for i in ids):
        raise BadRequest(400, "unanswered_ids 应当是问题编号的列表")
    return list(dict.fromkeys(ids))


class KnowledgeAPI:
    def __init__(self, editing: FaqEditing, engine: Engine, store: AsyncStore):
        self.editing = editing
        self.engine = engine
        self.store = store

    # --- entries ------------------------------------------------------------------------------
    @requires("faq")
    async def entries(self, request: web.Request) -> web.Response:
        return web.json_response({"entries": await self.editing.entries(), "files": self.editing.files(),
                                  "review_max_age_days": REVIEW_MAX_AGE_DAYS})

    @requires("faq")
    async def entry(self, request: web.Request) -> web.Response:
        found = await self.editing.entry(entry_id_of(request))
        if found is None:
            return json_error(404, "没有这条问答")
        return web.json_response(found)

    @requires("faq")
    async def save(self, request: web.Request) -> web.Response:
        entry_id = entry_id_of(request)
        data = await read_json_object(request, MAX_BODY)
        version = data.get("version")
        if not isinstance(version, str) or not version or len(version) > 64:
            raise BadRequest(400, "缺少 version：请重新打开这条问答再改")
        try:
            result = await self.editing.save(entry_id, parse_fields(data), version, request[STAFF].name)
        except EditRefused as error:
            return refused(error)
        return web.json_response(result)

    @requires("faq")
    async def create(self, request: web.Request) -> web.Response:
        data = await read_json_object(request, MAX_BODY)
        entry_id = text_field(data, "id", 64)
        file = text_field(data, "file", 100)
        ids = unanswered_ids(data)
        try:
            result = await self.editing.create(entry_id, file, parse_fields(data), request[STAFF].name)
        except EditRefused as error:
            return refused(error)
        if ids:
            result["unanswered_resolved"] = await self._resolve(ids, request[STAFF].name, entry_id)
        return web.json_response(result, status=201)

    async def _resolve(self, ids: list[int], actor: str, entry_id: str) -> int:
        """The unanswered questions the new entry was started from are now answered."""
        store = self.store.store
        return await self.store.run(store.resolve_unanswered, ids, "added", actor, time.time(), entry_id)

    @requires("faq")
    async def add_examples(self, request: web.Request) -> web.Response:
        entry_id = entry_id_of(request)
        data = await read_json_object(request, MAX_BODY)
        texts = data.get("texts")
        try:
            result = await self.editing.add_examples(entry_id, texts, request[STAFF].name)
        except EditRefused as error:
            return refused(error)
        return web.json_response(result)

    # --- preview ------------------------------------------------------------------------------
    @requires("faq")
    async def preview(self, request: web.Request) -> web.Response:
        """The answer as a rider would get it, rendered exactly as the engine renders an FAQ
        answer: template variables, the 依据 line, the hints, and WeChat's 2048-byte parts.
        While the fields cannot make an answer yet, text is null and problems say why."""
        data = await read_json_object(request, MAX_BODY)
        try:
            fields = parse_fields({k: data[k] for k in ("answer", "sources", "needs_human", "offers_case")
                                   if k in data})
        except EditRefused as error:
            return refused(error)
        raw = {"id": "preview", "title": "预览", "examples": ["预览"], "reviewed": _today(),
               "answer": fields.get("answer", ""),
               "sources": [{k: _source_value(k, v) for k, v in s.items() if v} for s in fields.get("sources", [])],
               **{k: fields[k] for k in ("needs_human", "offers_case") if k in fields}}
        problems: list = []
        entry = parse_entry(raw, "preview", problems)
        if entry is None:  # a form half filled in is normal while typing: not a failed request
            return web.json_response({"text": None, "problems": [p.message for p in problems if p.severity == "error"]})
        engine = self.engine
        text = engine.brain.kb.render_answer(entry, engine.context)
        if entry.needs_human:
            text += "\n" + engine.message("needs_human_hint")
        if entry.offers_case:
            text += "\n" + engine.message("case_offer")
        return web.json_response({"text": text, "chars": len(text), "wechat": wechat_parts(engine, text),
                                  "disclaimer": engine.message("disclaimer"), "problems": []})

    # --- history ------------------------------------------------------------------------------
    @requires("faq")
    async def changes(self, request: web.Request) -> web.Response:
        entry = request.query.get("entry")
        if entry is not None and not valid_id(entry):
            raise BadRequest(400, "entry 不是有效的问答编号")
        before = request.query.get("before")
        before_id = parse_id(before, 12) if before else None
        if before and before_id is None:
            raise BadRequest(400, "before 应当是修改记录编号")
        return web.json_response({"changes": await self.editing.changes(entry, before_id)})

    @requires("faq")
    async def change(self, request: web.Request) -> web.Response:
        change_id = parse_id(request.match_info["id"], 12)
        found = await self.editing.change(change_id) if change_id is not None else None
        if found is None:
            return json_error(404, "没有这条修改记录")
        return web.json_response(found)

    @requires("faq")
    async def revert(self, request: web.Request) -> web.Response:
        change_id = parse_id(request.match_info["id"], 12)
        if change_id is None:
            return json_error(404, "没有这条修改记录")
        try:
            result = await self.editing.revert(change_id, request[STAFF].name)
        except EditRefused as error:
            return refused(error)
        return web.json_response(result)

    # --- try it -------------------------------------------------------------------------------
    @requires("faq")
    async def try_text(self, request: web.Request) -> web.Response:
        data = await read_json_object(request)
        text = text_field(data, "text", MAX_TRY_CHARS)
        return web.json_response(try_message(self.engine, text))


def _today() -> dt.date:
    return dt.date.today()


def _source_value(key: str, value: str) -> Any:
    """A source date from a form as the YAML file would hold it (2012 is a year number)."""
    if key == "date" and value.isdigit() and len(value) == 4:
        return int(value)
    if key == "date" and len(value) == 10:
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return value
    return value


def wechat_parts(engine: Engine, text: str) -> list[str]:
    """The WeChat messages the rider reads one after another: what Engine._fit_channel sends
    first, then what each 更多 brings."""
    limit = CHANNEL_BYTE_LIMITS["wechat"]
    if utf8_len(text) <= limit:
        return [text]
    hint = engine.message("more_hint")
    parts = split_to_bytes(text, limit - utf8_len(hint) - 1)
    return [part + ("\n" + hint if i < len(parts) - 1 else "") for i, part in enumerate(parts)]


# What the bot does before it consults the FAQ, in the engine's own order (Engine._text).
TRIGGERS = (("emergency", "危险情况：先回复 120/110/122，并标为紧急转人工"),
            ("case_status", "查进度：列出骑手自己的求助登记"),
            ("handoff", "转人工：等待工作人员接手"),
            ("report", "登记求助：开始一问一答的登记"))
WHOLE_MESSAGE = (("greetings", "问候：回复问候语"), ("thanks", "感谢：回复不客气"))
DECISIONS = {"answer": "直接回答得分最高的问答", "clarify": "列出几条最接近的问答，请骑手选",
             "confirm": "只有一条接近：问骑手是不是想问这一条（回复“是”）",
             "fallback": "答不上：说明能帮什么（连续两次会提出转人工）"}


def _trigger(brain, reading) -> tuple[str, str] | None:
    """The route a message takes before the FAQ, as the engine checks them."""
    words, cleaned = dict(TRIGGERS), reading.cleaned
    if danger := brain.danger_in(reading):
        return "emergency", words["emergency"] + "（" + "、".join(danger.kinds) + "）"
    if brain.case_status.found_in(cleaned):
        return "case_status", words["case_status"]
    if brain.asks_for_a_person(reading):
        return "handoff", words["handoff"]
    if brain.report.found_in(cleaned):
        return "report", words["report"]
    return next(((name, w) for name, w in WHOLE_MESSAGE if getattr(brain, name).is_whole(cleaned)), None)


def try_message(engine: Engine, text: str) -> dict[str, Any]:
    """What the running bot would make of `text` in a conversation with no person involved."""
    brain = engine.brain  # one version of the knowledge for the whole answer
    reading = brain.read(text)
    trigger = _trigger(brain, reading)
    candidates = brain.rank(reading)
    decision = decide(candidates, engine.thresholds, names_a_topic=bool(reading.found.topics))
    chosen = {c.entry_id for c in decision.candidates} if decision.kind != "fallback" else set()
    rows = []
    for c in candidates:
        entry = brain.kb.entry(c.entry_id)
        rows.append({"entry_id": c.entry_id, "title": entry.title if entry else "", "score": c.score,
                     "example": c.example, "chosen": c.entry_id in chosen})
    t = engine.thresholds
    outcome = trigger[0] if trigger else decision.kind
    return {"text": text, "normalised": reading.normalised, "candidates": rows, "decision": decision.kind,
            "decision_words": DECISIONS[decision.kind], "trigger": trigger[0] if trigger else None,
            "trigger_words": trigger[1] if trigger else None, "outcome": outcome,
            "thresholds": {"answer": t.answer, "margin": t.margin, "clarify": t.clarify}}


class KnowledgePages:
    def __init__(self, pages: Pages):
        self.pages = pages

    @requires("faq")
    async def entry(self, request: web.Request) -> web.Response:
        entry_id = request.match_info["id"]
        if not valid_id(entry_id):
            raise web.HTTPNotFound(text="没有这条问答")
        return self.pages.render("knowledge_entry.html", staff=request[STAFF], mode="edit", entry_id=entry_id)

    @requires("faq")
    async def new(self, request: web.Request) -> web.Response:
        return self.pages.render("knowledge_entry.html", staff=request[STAFF], mode="new", entry_id="")

    @requires("faq")
    async def try_page(self, request: web.Request) -> web.Response:
        return self.pages.render("try.html", staff=request[STAFF])


def setup(app: web.Application, pages: Pages, store: AsyncStore, engine: Engine, watcher: KnowledgeWatcher,
          knowledge_dir: str | Path) -> None:
    editing = FaqEditing(store, knowledge_dir, watcher)
    app[FAQ_EDITING] = editing
    api, page = KnowledgeAPI(editing, engine, store), KnowledgePages(pages)
    r = app.router
    r.add_get("/console/knowledge/new", page.new)
    r.add_get("/console/knowledge/entries/{id}", page.entry)
    r.add_get("/console/try", page.try_page)
    r.add_get("/api/faq/entries", api.entries)
    r.add_post("/api/faq/entries", api.create)
    r.add_get("/api/faq/entries/{id}", api.entry)
    r.add_post("/api/faq/entries/{id}", api.save)
    r.add_post("/api/faq/entries/{id}/examples", api.add_examples)
    r.add_post("/api/faq/preview", api.preview)
    r.add_get("/api/faq/changes", api.changes)
    r.add_get("/api/faq/changes/{id}", api.change)
    r.add_post("/api/faq/changes/{id}/revert", api.revert)
    r.add_post("/api/try", api.try_text)
