"""The review of unanswered questions for FAQ staff: /console/unanswered and its API.

Questions the bot fell back on or answered unsure are grouped (intents.grouping), and each
group can be added to an existing entry as example phrasings, start a new entry (the page
hands its texts to the FAQ editor's new-entry form), or be dismissed.

Riders' texts can hold phone, ID and card numbers: they leave this module only masked
(bot.privacy.mask), both to the page and into the FAQ files, whatever the client sends."""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from bot.console.auth import STAFF, Staff, requires
from bot.console.faq_editing import FAQ_EDITING, EditRefused
from bot.console.pages import Pages
from bot.conversation import Engine
from bot.httputil import BadRequest, json_error, read_json_object, text_field
from bot.privacy import mask
from intents.grouping import SORTS, Group, Question, group_questions
from intents.normalise import clean
from storage import AsyncStore
from storage.unanswered import MAX_ROWS

DEFAULT_DAYS = 30
MAX_DAYS = 366
MAX_TEXTS = 20  # example texts added at once: a group shows at most 5, an editor may add a few
MAX_TEXT_CHARS = 200
MAX_ENTRY_ID_CHARS = 80
MAX_BODY_BYTES = 64 * 1024  # MAX_ROWS ids of up to 12 digits fit with room to spare


def question(row: dict[str, Any]) -> Question:
    text = mask(row["text"] or "")
    return Question(row["id"], text, row["normalised"] or clean(text), row["outcome"] or "",
                    row["top_entry"], row["created_at"], row["top_score"])


def groups_of(rows: list[dict[str, Any]], sort: str, suggest_from: float) -> list[Group]:
    """Masking and grouping: CPU work for a worker thread, not the event loop."""
    return group_questions([question(r) for r in rows], sort, suggest_from=suggest_from)


def days_param(raw: str | None) -> int:
    if raw is None or raw == "":
        return DEFAULT_DAYS
    if raw.isascii() and raw.isdigit() and len(raw) <= 3 and 1 <= int(raw) <= MAX_DAYS:
        return int(raw)
    raise BadRequest(400, f"days 应当是 1 到 {MAX_DAYS} 之间的天数")


def ids_field(data: dict[str, Any]) -> list[int]:
    """The question ids of a request: a non-empty list of row ids, each once, at most MAX_ROWS."""
    ids = data.get("ids")
    if not isinstance(ids, list) or not ids:
        raise BadRequest(400, "ids 应当是问题编号的列表")
    if len(ids) > MAX_ROWS:
        raise BadRequest(413, f"一次最多处理 {MAX_ROWS} 个问题")
    # bool is an int in Python: true must not pass as question 1.
    if not all(isinstance(i, int) and not isinstance(i, bool) and 0 < i < 2**63 for i in ids):
        raise BadRequest(400, "ids 里只能是问题编号（正整数）")
    return list(dict.fromkeys(ids))


def texts_field(data: dict[str, Any]) -> list[str]:
    """The example texts to add: masked, on one line, each once."""
    texts = data.get("texts")
    if not isinstance(texts, list) or not texts:
        raise BadRequest(400, "请至少选一个要加进去的问法")
    if len(texts) > MAX_TEXTS:
        raise BadRequest(413, f"一次最多加 {MAX_TEXTS} 个问法")
    result: list[str] = []
    for text in texts:
        if not isinstance(text, str):
            raise BadRequest(400, "texts 里只能是文字")
        text = " ".join(text.split())  # an example phrasing is one line of YAML
        if len(text) > MAX_TEXT_CHARS:
            raise BadRequest(413, f"问法太长：最多 {MAX_TEXT_CHARS} 个字")
        if text and (text := mask(text)) not in result:
            result.append(text)
    if not result:
        raise BadRequest(400, "请至少选一个要加进去的问法")
    return result


def reason_texts(reasons: Any) -> list[str]:
    """EditRefused's reasons as plain strings."""
    items = reasons if isinstance(reasons, (list, tuple)) else [reasons]
    return [str(r) for r in items]


@dataclass
class UnansweredAPI:
    store: AsyncStore
    engine: Engine

    @requires("faq")
    async def groups(self, request: web.Request) -> web.Response:
        days = days_param(request.query.get("days"))
        sort = request.query.get("sort") or SORTS[0]
        if sort not in SORTS:
            raise BadRequest(400, "sort 只能是 frequent（最多）或 newest（最新）")
        since = time.time() - days * 86400

        def fetch(store) -> tuple[list[dict[str, Any]], int]:
            return store.open_unanswered(since, MAX_ROWS), store.count_open_unanswered(since)
        rows, total = await self.store.run(fetch, self.store.store)
        # An entry the bot would not even offer as a choice (below the clarify score) is no
        # suggestion: preselecting it would invite adding texts to the wrong entry.
        groups = await asyncio.get_running_loop().run_in_executor(
            None, groups_of, rows, sort, self.engine.thresholds.clarify)
        kb = self.engine.brain.kb  # the version serving now: titles match what riders get
        return web.json_response({
            "days": days, "sort": sort, "open": total, "shown": len(rows), "capped": total > len(rows),
            "groups": [self._group_view(g, kb) for g in groups],
            "entries": [{"id": e.id, "title": e.title} for e in kb.entries]})

    @staticmethod
    def _group_view(group: Group, kb) -> dict[str, Any]:
        entry = kb.entry(group.suggestion) if group.suggestion else None
        return {"ids": group.ids, "count": group.count, "first_seen": group.first_seen,
                "last_seen": group.last_seen, "examples": group.examples, "outcomes": group.outcomes,
                "suggestion": {"id": entry.id, "title": entry.title} if entry else None}

    @requires("faq")
    async def add(self, request: web.Request) -> web.Response:
        """Add chosen texts of a group to an entry's examples, then mark the group added."""
        staff: Staff = request[STAFF]
        data = await read_json_object(request, MAX_BODY_BYTES)
        ids = ids_field(data)
        entry_id = text_field(data, "entry_id", MAX_ENTRY_ID_CHARS)
        texts = texts_field(data)
        open_ids = await self._open_ids(ids)
        if not open_ids:  # checked first, so a second click does not add the texts twice
            raise BadRequest(409, "这些问题已经有人处理过了，请刷新页面")
        editing = request.app.get(FAQ_EDITING)
        if editing is None:
            raise BadRequest(503, "这台服务器没有开启在网页上修改知识库")
        try:
            change = await editing.add_examples(entry_id, texts, staff.name)
        except EditRefused as refused:
            # Someone changed the file meanwhile: 409, try again; anything else: 422, the reasons.
            reasons = reason_texts(refused.reasons or [str(refused)])
            return json_error(409 if refused.conflict else 422, "没有加进去：" + "；".join(reasons),
                              reasons=reasons)
        change_id = change.get("id")  # None when the entry had every text already
        added = change.get("added", texts)

        def resolve(store) -> int:
            now = time.time()
            with store.transaction():
                count = store.resolve_unanswered(open_ids, "added", staff.name, now, entry_id)
                store.audit(staff.name, "unanswered_add", f"entry:{entry_id}", now, questions=count,
                            examples=len(added), change=change_id)
            return count
        resolved = await self.store.run(resolve, self.store.store)
        return web.json_response({"resolved": resolved, "entry_id": entry_id, "texts": texts,
                                  "added": added, "skipped": change.get("skipped", []),
                                  "change_id": change_id})

    @requires("faq")
    async def dismiss(self, request: web.Request) -> web.Response:
        staff: Staff = request[STAFF]
        ids = ids_field(await read_json_object(request, MAX_BODY_BYTES))
        open_ids = await self._open_ids(ids)

        def resolve(store) -> int:
            now = time.time()
            with store.transaction():
                count = store.resolve_unanswered(open_ids, "dismissed", staff.name, now)
                if count:
                    store.audit(staff.name, "unanswered_dismiss", "unanswered", now, questions=count)
            return count
        resolved = await self.store.run(resolve, self.store.store) if open_ids else 0
        return web.json_response({"resolved": resolved})

    async def _open_ids(self, ids: list[int]) -> list[int]:
        """Those of `ids` still open; 404 when one does not exist (e.g. purged meanwhile)."""
        statuses = await self.store.run(self.store.store.unanswered_statuses, ids)
        if len(statuses) < len(ids):
            raise BadRequest(404, "有的问题已经不存在了（可能已被清理），请刷新页面")
        return [i for i in ids if statuses[i] == "open"]


@dataclass
class UnansweredPage:
    pages: Pages

    @requires("faq")
    async def page(self, request: web.Request) -> web.Response:
        return self.pages.render("unanswered.html", staff=request[STAFF])


def setup(app: web.Application, pages: Pages, store: AsyncStore, engine: Engine) -> None:
    api, page = UnansweredAPI(store, engine), UnansweredPage(pages)
    app.router.add_get("/console/unanswered", page.page)
    app.router.add_get("/api/unanswered", api.groups)
    app.router.add_post("/api/unanswered/add", api.add)
    app.router.add_post("/api/unanswered/dismiss", api.dismiss)
