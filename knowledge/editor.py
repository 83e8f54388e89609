"""Editing FAQ entries from the console while the YAML files stay the one source of truth.

An entry is edited as a block of lines in its file: the lines from its "- id:" to the last
line of its own content. Only that block is rewritten (with ruamel.yaml, which keeps the
entry's own comments, key order and quoting); every other byte of the file stays as it was,
so staff who also edit the files by hand see only the change they made. A change is checked
with the very function behind `gigdesk kb check`, on a copy of the knowledge folder, before
the real file is replaced atomically. Everything here is synchronous: the console runs it
off the event loop (see bot.console.faq_editing)."""
from __future__ import annotations

import datetime as dt
import functools
import hashlib
import io
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import LiteralScalarString

from intents import Normaliser
from knowledge import check
from knowledge.check import REVIEW_MAX_AGE_DAYS
from knowledge.loader import ID_PATTERN, load_knowledge

MAX_ID_CHARS = 64
# The order keys are written in (knowledge/README.md); a key added to an entry goes here.
KEY_ORDER = ("id", "title", "examples", "keywords", "answer", "sources", "reviewed", "tags",
             "needs_human", "offers_case")
SOURCE_KEYS = ("title", "number", "article", "issuer", "date")


class EditRefused(Exception):
    """The change was not made; `reasons` say why in plain Chinese. `conflict` marks a change
    refused because the entry changed since it was read (the console answers 409)."""

    def __init__(self, reasons: list[str], conflict: bool = False, missing: bool = False,
                 warnings: list[str] | None = None):
        super().__init__("；".join(reasons))
        self.reasons = reasons
        self.conflict = conflict
        self.missing = missing
        self.warnings = warnings or []


def valid_id(entry_id: Any) -> bool:
    return isinstance(entry_id, str) and len(entry_id) <= MAX_ID_CHARS and bool(ID_PATTERN.match(entry_id))


def version_of(block_text: str) -> str:
    """What the client sends back to prove it edited the entry as it is now."""
    return hashlib.sha256(block_text.encode("utf-8")).hexdigest()[:16]


# --- finding entries in the files ----------------------------------------------------------------

@dataclass(frozen=True)
class Block:
    file: str  # relative to the knowledge folder: faq/pay.yaml
    entry_id: str
    start: int  # index of the entry's first line
    end: int  # index after its last line of content
    text: str  # those lines, exactly as in the file

    @property
    def line(self) -> int:
        return self.start + 1


def faq_files(directory: Path) -> list[str]:
    return [f"faq/{p.name}" for p in sorted((directory / "faq").glob("*.yaml"))]


def read_text(path: Path) -> str:
    return path.read_bytes().decode("utf-8")  # no newline translation: CRLF files stay CRLF


def blocks_in(file: str, text: str) -> list[Block]:
    """The entries of one file as blocks of lines; [] when the file cannot be read as YAML
    (the knowledge page reports why). Comments and blank lines between two entries belong
    to neither, so they are never rewritten."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return []
    items = None
    if isinstance(root, yaml.MappingNode):
        for key, value in root.value:
            if key.value == "entries" and isinstance(value, yaml.SequenceNode) and not value.flow_style:
                items = value.value
    if not items:
        return []
    lines = text.splitlines(keepends=True)
    starts = [_dash_line(lines, item.start_mark.line) for item in items]
    blocks = []
    for i, (item, start) in enumerate(zip(items, starts)):
        end = starts[i + 1] if i + 1 < len(starts) else len(lines)
        while end > start + 1 and (not lines[end - 1].strip() or lines[end - 1].lstrip().startswith("#")):
            end -= 1
        blocks.append(Block(file, _id_of(item), start, end, "".join(lines[start:end])))
    return blocks


def _dash_line(lines: list[str], line: int) -> int:
    """The line of an item's "-" (the mapping may start on the line after a lone dash)."""
    while line > 0 and not lines[line].lstrip().startswith("-"):
        line -= 1
    return line


def _id_of(item: yaml.Node) -> str:
    if isinstance(item, yaml.MappingNode):
        for key, value in item.value:
            if key.value == "id" and isinstance(value, yaml.ScalarNode):
                return str(value.value).strip()
    return ""


def find_block(directory: Path, entry_id: str) -> Block | None:
    for file in faq_files(directory):
        for block in blocks_in(file, read_text(directory / file)):
            if block.entry_id == entry_id:
                return block
    return None


def block_fields(block_text: str) -> dict[str, Any]:
    """The entry's fields as JSON-ready values (dates as text)."""
    loaded = yaml.safe_load(block_text)
    raw = loaded[0] if isinstance(loaded, list) and loaded and isinstance(loaded[0], dict) else {}
    fields = {key: _plain(value) for key, value in raw.items()}
    fields.setdefault("examples", [])
    fields.setdefault("keywords", [])
    fields.setdefault("sources", [])
    return fields


def _plain(value: Any) -> Any:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def list_entries(directory: Path, today: dt.date | None = None) -> list[dict[str, Any]]:
    today = today or dt.date.today()
    entries = []
    for file in faq_files(directory):
        for block in blocks_in(file, read_text(directory / file)):
            fields = block_fields(block.text)
            reviewed = fields.get("reviewed")
            expired = False
            if isinstance(reviewed, str):
                try:
                    expired = (today - dt.date.fromisoformat(reviewed)).days > REVIEW_MAX_AGE_DAYS
                except ValueError:
                    pass
            entries.append({"id": block.entry_id, "title": str(fields.get("title") or ""), "file": file,
                            "line": block.line, "reviewed": reviewed, "expired": expired,
                            "examples": len(fields["examples"]) if isinstance(fields["examples"], list) else 0})
    return entries


def read_entry(directory: Path, entry_id: str) -> dict[str, Any] | None:
    block = find_block(directory, entry_id)
    if block is None:
        return None
    return {"id": entry_id, "file": block.file, "line": block.line, "version": version_of(block.text),
            "yaml": block.text, "fields": block_fields(block.text)}


# --- rewriting one block ---------------------------------------------------------------------------

def _yaml() -> YAML:
    y = YAML()
    y.preserve_quotes = True
    y.width = 4096  # never fold a long phrasing or answer line
    y.indent(mapping=2, sequence=4, offset=2)  # the files' own style: "  - id:" then 4 spaces
    return y


def _load_block(block_text: str) -> tuple[CommentedSeq, CommentedMap]:
    seq = _yaml().load(block_text)
    if not isinstance(seq, CommentedSeq) or len(seq) != 1 or not isinstance(seq[0], CommentedMap):
        raise EditRefused(["这条问答的写法比较特殊，网页上改不了，请直接编辑文件"])
    return seq, seq[0]


def _dump_block(seq: CommentedSeq, column: int) -> str:
    out = io.StringIO()
    _yaml().dump(seq, out)
    text = out.getvalue()
    dumped = len(text) - len(text.lstrip(" "))
    shift = column - dumped
    if shift == 0:
        return text
    lines = text.splitlines(keepends=True)
    if shift > 0:
        return "".join(" " * shift + line if line.strip() else line for line in lines)
    return "".join(line[-shift:] if line[:-shift].strip() == "" else line for line in lines)


def _column(block_text: str) -> int:
    return len(block_text) - len(block_text.lstrip(" "))


def _set(entry: CommentedMap, key: str, value: Any) -> None:
    """Set a key, inserting a new one where KEY_ORDER puts it."""
    if key in entry:
        entry[key] = value
        return
    position = 0
    for i, existing in enumerate(entry):
        if existing in KEY_ORDER and KEY_ORDER.index(existing) < KEY_ORDER.index(key):
            position = i + 1
    entry.insert(position, key, value)


def _replace_list(entry: CommentedMap, key: str, values: list[str], flow: bool = False,
                  drop_when_empty: bool = False) -> None:
    current = entry.get(key)
    if isinstance(current, list) and [str(v) for v in current] == values:
        return  # untouched: keeps its comments
    if not values and drop_when_empty:
        entry.pop(key, None)
        return
    if isinstance(current, CommentedSeq):
        current.ca.items.clear()  # comments were tied to positions that no longer mean the same
        del current[:]
        current.extend(values)
        return
    seq = CommentedSeq(values)
    if flow:
        seq.fa.set_flow_style()
    _set(entry, key, seq)


def _date_value(text: str) -> Any:
    """What a date typed in a form becomes in YAML: a real date when it is one, else the text
    as written, so `kb check` names the problem exactly as for a hand edit."""
    text = text.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            return text
    if re.fullmatch(r"\d{4}", text):
        return int(text)
    return text


def _sources(entry: CommentedMap, sources: list[dict[str, str]]) -> None:
    current = entry.get("sources")
    wanted = [{k: (_date_value(s[k]) if k == "date" else s[k]) for k in SOURCE_KEYS if s.get(k)} for s in sources]
    if isinstance(current, list) and len(current) == len(wanted) and all(
            isinstance(old, dict) and set(old) == set(new) for old, new in zip(current, wanted)):
        for old, new in zip(current, wanted):  # same shape: update in place, comments kept
            for key, value in new.items():
                if _plain(old[key]) != _plain(value):
                    old[key] = value
        return
    _set(entry, "sources", CommentedSeq([CommentedMap(s) for s in wanted]))


def _answer(text: str) -> Any:
    text = "\n".join(line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")).strip()
    return LiteralScalarString(text + "\n") if text else ""


def apply_fields(entry: CommentedMap, fields: dict[str, Any]) -> None:
    """Put the editable fields (already checked for type and size) into a loaded entry."""
    if "title" in fields and str(entry.get("title", "")) != fields["title"]:
        entry["title"] = fields["title"]
    if "examples" in fields:
        _replace_list(entry, "examples", fields["examples"])
    if "keywords" in fields:
        _replace_list(entry, "keywords", fields["keywords"], flow=True, drop_when_empty=True)
    if "tags" in fields:
        _replace_list(entry, "tags", fields["tags"], flow=True, drop_when_empty=True)
    if "answer" in fields and _plain(entry.get("answer")) != str(_answer(fields["answer"])):
        _set(entry, "answer", _answer(fields["answer"]))
    if "sources" in fields:
        _sources(entry, fields["sources"])
    if "reviewed" in fields:
        value = _date_value(fields["reviewed"])
        if _plain(entry.get("reviewed")) != _plain(value):
            _set(entry, "reviewed", value)
    for flag in ("needs_human", "offers_case"):
        if flag in fields and (flag in entry or fields[flag]):
            if entry.get(flag) is not fields[flag]:
                _set(entry, flag, fields[flag])


def edited_block(block_text: str, fields: dict[str, Any]) -> str:
    seq, entry = _load_block(block_text)
    apply_fields(entry, fields)
    return _dump_block(seq, _column(block_text))


def new_block(entry_id: str, fields: dict[str, Any], column: int = 2) -> str:
    entry = CommentedMap([("id", entry_id), ("title", fields.get("title", "")), ("examples", CommentedSeq()),
                          ("needs_human", False), ("offers_case", False)])
    apply_fields(entry, {"reviewed": dt.date.today().isoformat(), **fields})
    return _dump_block(CommentedSeq([entry]), column)


def block_with_examples(block_text: str, texts: list[str], same: Any = None) -> tuple[str, list[str], list[str]]:
    """The block with `texts` appended to its phrasings, and which were added and skipped.
    `same(text)` gives the form two phrasings are compared in (the bot's normaliser), so a
    phrasing that differs only in punctuation or traditional characters is not added twice."""
    same = same or (lambda t: t.strip())
    seq, entry = _load_block(block_text)
    examples = entry.get("examples")
    if not isinstance(examples, CommentedSeq):
        examples = CommentedSeq()
        _set(entry, "examples", examples)
    seen = {same(str(e)) for e in examples}
    added, skipped = [], []
    for text in texts:
        key = same(text)
        if key in seen or not text.strip():
            skipped.append(text)
            continue
        seen.add(key)
        examples.append(text.strip())
        added.append(text.strip())
    return _dump_block(seq, _column(block_text)) if added else block_text, added, skipped


# --- rewriting a file ---------------------------------------------------------------------------------

def _newline(text: str) -> str:
    return "\r\n" if "\r\n" in text else "\n"


def _with_newline(block_text: str, newline: str) -> str:
    text = block_text.replace("\r\n", "\n")
    return text.replace("\n", newline) if newline != "\n" else text


def splice(file_text: str, block: Block, new_text: str) -> str:
    """The file with one block replaced; an empty new_text removes the entry and the blank
    line that separated it from the one before."""
    lines = file_text.splitlines(keepends=True)
    start, end = block.start, block.end
    if not new_text:
        if start > 0 and not lines[start - 1].strip() and (end >= len(lines) or not lines[end].strip()):
            start -= 1
        return "".join(lines[:start] + lines[end:])
    return "".join(lines[:start]) + _with_newline(new_text, _newline(file_text)) + "".join(lines[end:])


def appended(file_text: str, new_text: str) -> str:
    """The file with a new entry at its end, after a blank line as between the others."""
    newline = _newline(file_text)
    if file_text and not file_text.endswith("\n"):
        file_text += newline
    separator = newline if file_text.strip() and not file_text.endswith(newline * 2) else ""
    return file_text + separator + _with_newline(new_text, newline)


def write_atomic(path: Path, text: str) -> None:
    """Readers (the running server, an editor open on the file) see the old file or the new
    one, never half of it: a temporary file in the same folder, then os.replace."""
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(text.encode("utf-8"))
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


# --- checking a change as `gigdesk kb check` does ------------------------------------------------------

def check_change(directory: Path, file: str, new_file_text: str, entry_id: str) -> tuple[list[str], list[str]]:
    """Errors and warnings `gigdesk kb check` reports once `file` reads `new_file_text`, found
    on a copy of the folder, so the serving files never hold a broken state.

    The errors are exactly kb check's: its error-producing steps (the loader and the duplicate
    phrasings) run unchanged over the whole base. Of its warnings only this entry's are wanted,
    so the leave-one-out confusion check (about 2 s of kb check's 6 s on this base, and only
    ever warnings) runs for this entry's phrasings only."""
    with tempfile.TemporaryDirectory(prefix="gigdesk-kb-") as temp:
        copy = Path(temp)
        (copy / "faq").mkdir()
        for path in list(directory.glob("*.yaml")) + list((directory / "faq").glob("*.yaml")):
            shutil.copy2(path, copy / path.relative_to(directory))
        (copy / file).write_bytes(new_file_text.encode("utf-8"))
        kb, problems = load_knowledge(copy)
        if kb is not None:
            normalise = functools.lru_cache(maxsize=None)(Normaliser(kb.synonyms))
            locate = check._ExampleLocator(copy)
            problems += check.duplicate_examples(kb, normalise, locate)
            problems += check.confusable_examples(kb, normalise, locate, only=entry_id)
            problems += check.entry_warnings(kb, REVIEW_MAX_AGE_DAYS, dt.date.today())
    errors = [str(p) for p in problems if p.severity == "error"]
    warnings = [str(p) for p in problems if p.severity != "error" and p.entry == entry_id]
    return errors, warnings

