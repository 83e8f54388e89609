"""Changing FAQ entries from the console: save, create, add phrasings, revert.

Every change is made under one lock, checked exactly as `gigdesk kb check` checks the files
(knowledge.editor), written in place, recorded with who/when/before/after, and then loaded
by the running server at once, as a hand edit would be on the next poll."""
from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.reloader import KnowledgeWatcher
from knowledge import editor
from knowledge.editor import EditRefused, valid_id
from knowledge.loader import SAMPLE_CONTEXT
from storage import AsyncStore

__all__ = ["FaqEditing", "FAQ_EDITING", "EditRefused", "parse_fields"]

# Bounds on what a browser may send: generous for real entries, small enough that a hostile
# request cannot make the check or the file grow without limit.
MAX_TITLE = 200
MAX_EXAMPLES = 300
MAX_EXAMPLE_CHARS = 300
MAX_WORDS = 50
MAX_WORD_CHARS = 50
MAX_ANSWER_CHARS = 5000
MAX_SOURCES = 20
MAX_SOURCE_FIELD = 300
# Answers are jinja2 templates rendered on the server. From a browser only the plain
# {{ variable }} form is accepted: an expression could reach Python objects, so nothing but
# a name gets as far as being rendered (which names exist, `kb check` then says).
_TEMPLATE_PART = re.compile(r"\{\{|\{%|\{#")
_PLAIN_VARIABLE = re.compile(r"\{\{\s*[A-Za-z_][A-Za-z0-9_]*\s*\}\}")


def _refuse(message: str) -> EditRefused:
    return EditRefused([message])


def _line(value: Any, name: str, limit: int) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise _refuse(f"{name} 必须是文字")
    value = " ".join(value.split())  # one line: no newline or tab can change the YAML's shape
    if len(value) > limit:
        raise _refuse(f"{name} 太长：最多 {limit} 个字")
    return value


def _lines(value: Any, name: str, count: int, limit: int) -> list[str]:
    if not isinstance(value, list):
        raise _refuse(f"{name} 必须是一列文字")
    if len(value) > count:
        raise _refuse(f"{name} 太多：最多 {count} 条")
    items = [_line(v, name, limit) for v in value]
    return [i for i in items if i]


def check_answer_template(answer: str) -> None:
    leftover = _PLAIN_VARIABLE.sub("", answer)
    if _TEMPLATE_PART.search(leftover):
        names = "、".join("{{ " + n + " }}" for n in SAMPLE_CONTEXT)
        raise _refuse(f"回答里的 {{{{ }}}} 只能写变量名，例如 {names}；其他写法请直接编辑文件")


def parse_fields(data: dict[str, Any]) -> dict[str, Any]:
    """The editable fields of a request body, checked for type and size only: whether they
    make a good entry is for `kb check` to say. Keys not sent are left as they are."""
    fields: dict[str, Any] = {}
    if "title" in data:
        fields["title"] = _line(data["title"], "标题", MAX_TITLE)
    if "examples" in data:
        fields["examples"] = _lines(data["examples"], "问法", MAX_EXAMPLES, MAX_EXAMPLE_CHARS)
    for key, name in (("keywords", "关键词"), ("tags", "标签")):
        if key in data:
            fields[key] = _lines(data[key], name, MAX_WORDS, MAX_WORD_CHARS)
    if "answer" in data:
        if not isinstance(data["answer"], str):
            raise _refuse("回答必须是文字")
        if len(data["answer"]) > MAX_ANSWER_CHARS:
            raise _refuse(f"回答太长：最多 {MAX_ANSWER_CHARS} 个字")
        check_answer_template(data["answer"])
        fields["answer"] = data["answer"]
    if "sources" in data:
        sources = data["sources"]
        if not isinstance(sources, list) or len(sources) > MAX_SOURCES:
            raise _refuse(f"依据必须是一列（最多 {MAX_SOURCES} 个）")
        fields["sources"] = []
        for source in sources:
            if not isinstance(source, dict):
                raise _refuse("依据的每一项要有名称和日期")
            row = {k: _line(source.get(k) or "", "依据", MAX_SOURCE_FIELD) for k in editor.SOURCE_KEYS}
            if any(row.values()):
                fields["sources"].append(row)
    if "reviewed" in data:
        fields["reviewed"] = _line(data["reviewed"], "审核日期", 20)
    for flag in ("needs_human", "offers_case"):
        if flag in data:
            if not isinstance(data[flag], bool):
                raise _refuse(f"{flag} 只能是 true 或 false")
            fields[flag] = data[flag]
    return fields


def change_view(row: dict[str, Any]) -> dict[str, Any]:
    keys = ("id", "at", "actor", "action", "file", "entry_id", "before", "after", "reverts", "reverted_by")
    return {k: row[k] for k in keys}


class FaqEditing:
    """The one way the console changes FAQ files. Other console parts (the unanswered
    questions review) call add_examples; the API in knowledge_api calls the rest."""

    def __init__(self, store: AsyncStore, knowledge_dir: str | Path, watcher: KnowledgeWatcher):
        self.store = store
        self.directory = Path(knowledge_dir)
        self.watcher = watcher
        self._lock = asyncio.Lock()  # one change at a time: each is checked against the last

    # --- reading ------------------------------------------------------------------------------
    async def entries(self) -> list[dict[str, Any]]:
        return await asyncio.to_thread(editor.list_entries, self.directory)

    def files(self) -> list[str]:
        return editor.faq_files(self.directory)

    async def entry(self, entry_id: str) -> dict[str, Any] | None:
        if not valid_id(entry_id):
            return None
        return await asyncio.to_thread(editor.read_entry, self.directory, entry_id)

    async def changes(self, entry_id: str | None = None, before_id: int | None = None) -> list[dict[str, Any]]:
        """Newest first, each with can_revert: whether revert() would be tried at all."""
        rows = await self.store.run(self.store.store.faq_changes, entry_id, 100, before_id)
        ids = {r["entry_id"] for r in rows}
        current = await asyncio.to_thread(self._current_texts, ids)
        return [{**change_view(r), "can_revert": self._revertable(r, rows, current)} for r in rows]

    async def change(self, change_id: int) -> dict[str, Any] | None:
        row = await self.store.run(self.store.store.faq_change, change_id)
        if row is None:
            return None
        later = await self.store.run(self.store.store.later_faq_changes, row)
        current = await asyncio.to_thread(self._current_texts, {row["entry_id"]})
        return {**change_view(row), "can_revert": self._revertable(row, later, current)}

    def _current_texts(self, ids: set[str]) -> dict[str, str]:
        found = {}
        for file in editor.faq_files(self.directory):
            for block in editor.blocks_in(file, editor.read_text(self.directory / file)):
                if block.entry_id in ids:
                    found[block.entry_id] = block.text
        return found

    @staticmethod
    def _revertable(row: dict[str, Any], others: list[dict[str, Any]], current: dict[str, str]) -> bool:
        if row["reverted_by"]:
            return False
        if _blocking(row, others):
            return False
        return current.get(row["entry_id"], "") == row["after"]

    # --- changing -----------------------------------------------------------------------------
    async def save(self, entry_id: str, fields: dict[str, Any], version: str, actor: str) -> dict[str, Any]:
        """Replace an entry's editable fields; `version` is what the editor opened."""
        def make(block: editor.Block | None) -> tuple[str, str]:
            if block is None:
                raise EditRefused(["没有这条问答（可能刚被删除或改了编号）"], missing=True)
            if editor.version_of(block.text) != version:
                raise EditRefused(["这条问答在你打开之后被别人改过了。请复制你改的内容，重新打开这条问答再改"],
                                  conflict=True)
            return block.file, editor.edited_block(block.text, fields)
        return await self._change(entry_id, "edit", make, actor)

    async def create(self, entry_id: str, file: str, fields: dict[str, Any], actor: str) -> dict[str, Any]:
        if not valid_id(entry_id):
            raise EditRefused(["编号只能用小写英文字母、数字和短横线，例如 pay-withheld（最多 64 个字符）"])
        file = file if file.startswith("faq/") else f"faq/{file}"
        if file not in self.files():
            raise EditRefused(["请选择一个已有的问答文件"])

        def make(block: editor.Block | None) -> tuple[str, str]:
            if block is not None:
                raise EditRefused([f"编号 {entry_id} 已经被 {block.file} 第 {block.line} 行的问答用了，请换一个"],
                                  conflict=True)
            return file, editor.new_block(entry_id, fields)
        return await self._change(entry_id, "create", make, actor)

    async def add_examples(self, entry_id: str, texts: list[str], actor: str) -> dict[str, Any]:
        """Add phrasings to an entry, skipping those it already has (compared as the bot
        compares messages). Returns the recorded change row with `added`, `skipped` and
        `warnings`; when every text was already there nothing is written and `id` is None.
        Raises EditRefused for an unknown entry or a change `kb check` refuses."""
        if not valid_id(entry_id):
            raise EditRefused(["没有这条问答"], missing=True)
        texts = _lines(texts, "问法", MAX_EXAMPLES, MAX_EXAMPLE_CHARS)
        normalise = self.watcher.engine.brain.normalise
        outcome: dict[str, list[str]] = {}

        def make(block: editor.Block | None) -> tuple[str, str]:
            if block is None:
                raise EditRefused([f"没有这条问答：{entry_id}"], missing=True)
            text, outcome["added"], outcome["skipped"] = editor.block_with_examples(block.text, texts, normalise)
            return block.file, text
        result = await self._change(entry_id, "add_examples", make, actor)
        if result["change"] is None:  # the same shape as a change, with before == after
            entry = result["entry"] or {}
            text = entry.get("yaml", "")
            return {"id": None, "at": time.time(), "actor": actor, "action": "add_examples",
                    "file": entry.get("file", ""), "entry_id": entry_id, "before": text, "after": text,
                    "reverts": None, "reverted_by": None, "added": [],
                    "skipped": outcome.get("skipped", texts), "warnings": []}
        return {**result["change"], **outcome, "warnings": result["warnings"]}

    async def revert(self, change_id: int, actor: str) -> dict[str, Any]:
        """Put the entry back as it was before `change_id`, if nothing changed it since."""
        change = await self.store.run(self.store.store.faq_change, change_id)
        if change is None:
            raise EditRefused(["没有这条修改记录"], missing=True)
        if change["reverted_by"]:
            raise EditRefused([f"这次修改已经撤销过了（见修改记录 #{change['reverted_by']}）"], conflict=True)
        later = await self.store.run(self.store.store.later_faq_changes, change)
        if blocking := _blocking(change, later):
            raise EditRefused([f"这次修改之后，{blocking['actor']} 又改过这条问答（修改记录 #{blocking['id']}）；"
                               f"请先从最近的一次开始撤销"], conflict=True)

        def make(block: editor.Block | None) -> tuple[str, str]:
            if (block.text if block else "") != change["after"]:
                raise EditRefused(["这条问答现在的内容和这次修改后的不一样（可能有人直接改了文件），"
                                   "不能自动撤销；请打开问答手动修改"], conflict=True)
            return (block.file if block else change["file"]), change["before"]
        return await self._change(change["entry_id"], "revert", make, actor, reverts=change_id)

    async def _change(self, entry_id: str, action: str, make, actor: str,
                      reverts: int | None = None) -> dict[str, Any]:
        """make(block) -> (file, the entry's new text, "" to remove it); the rest is common:
        check, write, record, reload. Returns {change, entry, warnings}."""
        async with self._lock:
            planned = await asyncio.to_thread(self._plan, entry_id, make)
            if planned is None:  # nothing to change
                return {"change": None, "entry": await self.entry(entry_id), "warnings": []}
            file, old_file, new_file, before, after = planned
            errors, warnings = await asyncio.to_thread(editor.check_change, self.directory, file, new_file, entry_id)
            if errors:
                raise EditRefused(errors, warnings=warnings)
            await asyncio.to_thread(self._write, file, old_file, new_file)
            change_id = await self.store.run(self.store.store.record_faq_change, time.time(), actor, action, file,
                                             entry_id, before, after, reverts)
            await self._reload()
        row = await self.store.run(self.store.store.faq_change, change_id)
        return {"change": change_view(row), "entry": await self.entry(entry_id), "warnings": warnings}

    def _plan(self, entry_id: str, make) -> tuple[str, str, str, str, str] | None:
        block = editor.find_block(self.directory, entry_id)
        file, new_text = make(block)
        before = block.text if block else ""
        if new_text == before:
            return None
        path = self.directory / file
        if not path.exists():
            raise EditRefused([f"问答文件 {file} 不在了"], missing=True)
        old_file = editor.read_text(path)
        if block is not None and block.file == file:
            new_file = editor.splice(old_file, block, new_text)
        else:
            new_file = editor.appended(old_file, new_text)
        after = next((b.text for b in editor.blocks_in(file, new_file) if b.entry_id == entry_id), "")
        return file, old_file, new_file, before, after

    def _write(self, file: str, old_file: str, new_file: str) -> None:
        path = self.directory / file
        if editor.read_text(path) != old_file:  # a hand edit landed while this one was checked
            raise EditRefused([f"{file} 刚刚被改过（可能有人直接编辑了文件），请重新打开再改"], conflict=True)
        editor.write_atomic(path, new_file)

    async def _reload(self) -> None:
        """Serve the change now rather than at the watcher's next poll. check_once() waits for
        a reload the poll may already have begun, so afterwards the change is serving."""
        await self.watcher.check_once()

def _blocking(change: dict[str, Any], others: list[dict[str, Any]]) -> dict[str, Any] | None:
    """A later change to the same entry that is still in effect: undo that first. Reverts
    that undid later changes do not count (they are how "in order" is done)."""
    for other in sorted(others, key=lambda r: r["id"]):
        if (other["entry_id"] == change["entry_id"] and other["id"] > change["id"]
                and not other["reverted_by"] and other["action"] != "revert"):
            return other
    return None


FAQ_EDITING = web.AppKey("faq_editing", FaqEditing)
