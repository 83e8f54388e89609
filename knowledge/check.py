"""`gigdesk kb check`: everything the loader reports, plus the problems that only show once the
files load: one phrasing in two entries, phrasings the matcher would send elsewhere, thin
entries, stale reviews and answers too long to read on a phone. Messages are plain Chinese
with file, line and entry, for staff who edit the YAML but do not read Python."""
from __future__ import annotations

import datetime as dt
import functools
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

import yaml

from bot.settings import Settings
from intents import Candidate, Matcher, Normaliser, decide
from intents.normalise import clean
from knowledge.loader import Problem, load_knowledge, load_station_wording
from knowledge.model import Entry, KnowledgeBase

MIN_EXAMPLES = 8  # fewer and the matcher has too few ways of saying it to recognise a new one
# Rendered answers longer than this are hard to read on a phone screen, and near the 2048-byte
# passive-reply limit (600 Chinese characters are 1800 bytes in UTF-8) the engine must split.
MAX_ANSWER_CHARS = 600
_ENTRY_START = re.compile(r"^\s*-\s+id\s*:")
Normalise = Callable[[str], str]
# An entry not reviewed for longer is flagged: by `kb check`, the console's editor and the dashboard.
REVIEW_MAX_AGE_DAYS = 365


def check_knowledge(knowledge_dir: str | Path, max_age_days: int = REVIEW_MAX_AGE_DAYS,
                    today: dt.date | None = None) -> list[Problem]:
    """Every problem found, errors and warnings, in file and line order. Prints nothing."""
    return _check(Path(knowledge_dir), max_age_days, today or dt.date.today())[1]


def run_check(knowledge_dir: str | Path, max_age_days: int = REVIEW_MAX_AGE_DAYS, out: TextIO | None = None) -> int:
    """Print one line per problem and a summary; 1 when there is an error (warnings pass)."""
    out = out or sys.stdout  # looked up per call, so a redirected stdout (pytest's capsys) is used
    kb, problems = _check(Path(knowledge_dir), max_age_days, dt.date.today())
    for problem in problems:
        print(problem, file=out)
    errors = sum(p.severity == "error" for p in problems)
    warnings = len(problems) - errors
    if kb is None:
        # The loader refuses the whole base on any error, so the checks after it never ran.
        print("有错误时只检查了格式；改正后再运行，会继续检查问法重复、容易混淆等问题。", file=out)
    count = f"{len(kb.entries)} 条问答" if kb else "问答未能读入"
    print(f"检查完成：{count}，{errors} 个错误，{warnings} 个提醒", file=out)
    return 1 if errors else 0


def _check(directory: Path, max_age_days: int, today: dt.date) -> tuple[KnowledgeBase | None, list[Problem]]:
    kb, problems = load_knowledge(directory)
    problems += station_wording_problems(directory)
    if kb is not None:
        locate = _ExampleLocator(directory)
        # Cached: leave-one-out rebuilds the index ~600 times over the same phrasings, and a
        # cached call returns exactly what the serving normaliser does (about 10x faster).
        normalise = functools.lru_cache(maxsize=None)(Normaliser(kb.synonyms))
        problems += duplicate_examples(kb, normalise, locate)
        problems += confusable_examples(kb, normalise, locate)
        problems += entry_warnings(kb, max_age_days, today)
        problems += dialect_written_words(kb, directory)
    # Stable sort: a file's problems top to bottom, checks in the order above within a line.
    problems.sort(key=lambda p: (p.file, p.line))
    return kb, problems


def station_wording_problems(directory: Path) -> list[Problem]:
    """stations.yaml (what riders are told about rest stations): every message there, rendered
    once. A running server keeps its last good version of a broken file; this says why."""
    path = directory / "stations.yaml"
    if not path.exists():
        return []
    try:
        load_station_wording(path)
    except (ValueError, OSError) as exc:
        return [Problem("stations.yaml", 0, "", str(exc).removeprefix("stations.yaml: "))]
    except yaml.YAMLError as exc:
        return [Problem("stations.yaml", 0, "", f"读不出来：{exc}")]
    return []


def dialect_written_words(kb: KnowledgeBase, directory: Path) -> list[Problem]:
    """A word the knowledge files look for, written in dialect (冇工资, 仲在度): a rider's
    message has its dialect words read as the standard ones before anything is matched
    (lexicon.yaml's dialect), so the word as written can never be found. Says which standard
    word to write instead."""
    if not kb.dialect:
        return []
    dialect = Normaliser(kb.dialect)
    t, c, d = kb.triggers, kb.concepts, kb.danger
    sources = {
        "concepts.yaml": [*_words(c.topics), *_words(c.aspects), *_words(c.handoff_concepts), *c.new_subject],
        "danger.yaml": [*_words(d.concepts), *d.ignore, *d.not_now, *d.policy, *d.now, *d.unhurt],
        "lexicon.yaml": [*kb.synonyms, *t.emergency, *t.handoff, *t.back_to_bot, *t.more, *t.greetings,
                         *t.thanks, *t.report, *t.case_status, *t.cancel],
    }
    problems, seen = [], set()
    for file, words in sources.items():
        lines = (directory / file).read_text("utf-8").splitlines() if (directory / file).exists() else []
        for phrase in words:
            for word in filter(None, re.split(r"[…+|=^]", phrase)):
                standard = dialect(word)
                if standard == clean(word) or (file, word) in seen:
                    continue
                seen.add((file, word))
                line = next((i for i, text in enumerate(lines, 1) if word in text), 0)
                problems.append(Problem(file, line, "", f"「{word}」里有方言字：骑手的消息会先读成「{standard}」"
                                        f"（lexicon.yaml 的 dialect），所以「{word}」永远对不上；请写成「{standard}」",
                                        severity="warning"))
    return problems


def _words(groups: dict[str, tuple[str, ...]]) -> list[str]:
    return [word for words in groups.values() for word in words]


def duplicate_examples(kb: KnowledgeBase, normalise: Normalise, locate: "_ExampleLocator") -> list[Problem]:
    """A phrasing that normalises the same in two entries: the bot cannot know which is meant."""
    owner: dict[str, tuple[Entry, str]] = {}
    problems = []
    for entry in kb.entries:
        for example in entry.examples:
            key = normalise(example)
            first = owner.setdefault(key, (entry, example))
            if first[0].id != entry.id:
                other, other_text = first
                problems.append(Problem(
                    entry.file, locate(entry, example), entry.id,
                    f"问法「{example}」和 {other.file} 第 {locate(other, other_text)} 行问答 {other.id} "
                    f"的问法「{other_text}」是同一句话（去掉标点、繁简和同义词差别后相同）；"
                    f"一句问法只能放在一条问答里"))
    return problems


def confusable_examples(kb: KnowledgeBase, normalise: Normalise, locate: "_ExampleLocator",
                        only: str | None = None) -> list[Problem]:
    """Leave-one-out: for each phrasing, rebuild the matcher without it and ask which entry it
    goes to. A phrasing the rest of its own entry cannot claim stands for a way of asking the
    bot would get wrong from a rider. `only`: check just that entry's phrasings (the console's
    save checks the one entry it changed; the whole base takes seconds)."""
    shared = _shared_phrasings(kb, normalise)
    # Mirrors bot.brain.build_brain, which builds the serving matcher the same way.
    whole = Matcher({e.id: (e.examples, e.keywords) for e in kb.entries}, normalise)
    problems = []
    for entry in kb.entries:
        if only is not None and entry.id != only:
            continue
        for i, example in enumerate(entry.examples):
            if normalise(example) in shared:
                continue  # already an error from duplicate_examples; this would only repeat it
            line = locate(entry, example)
            rest = entry.examples[:i] + entry.examples[i + 1:]
            matcher = whole.replacing(entry.id, rest, entry.keywords)
            candidates = matcher.match(example)
            if candidates and candidates[0].entry_id == entry.id:
                continue
            if candidates and decide(candidates).kind != "answer":
                # The bot would only ask which entry was meant, naming this one among the
                # choices or not: staff act on the phrasings answered wrongly outright.
                continue
            problems.append(Problem(entry.file, line, entry.id, _confusion_message(kb, entry, example, candidates),
                                    "warning"))
    return problems


def _shared_phrasings(kb: KnowledgeBase, normalise: Normalise) -> set[str]:
    owners: dict[str, set[str]] = {}
    for entry in kb.entries:
        for example in entry.examples:
            owners.setdefault(normalise(example), set()).add(entry.id)
    return {key for key, ids in owners.items() if len(ids) > 1}


def _confusion_message(kb: KnowledgeBase, entry: Entry, example: str, candidates: list[Candidate]) -> str:
    if not candidates:
        return (f"问法「{example}」和本条其他问法、关键词没有一个字相同，机器人认不出来；"
                f"请换成更常见的说法，或补充关键词")
    top = candidates[0]
    other = kb.entry(top.entry_id)
    title = f"（{other.title}）" if other else ""
    own = next((c.score for c in candidates if c.entry_id == entry.id), None)
    own_text = f"本条只有 {own:.1f} 分" if own is not None else "本条不在前几名"
    # Say whether the bot would answer wrongly outright or only ask: the former matters most.
    verb = "会直接回答成" if decide(candidates).kind == "answer" else "会先想到"
    return (f"问法「{example}」如果是骑手发来的，机器人{verb}问答 {top.entry_id}{title}"
            f"（得分 {top.score:.1f}，{own_text}）；请给本条补充相近的说法，或把这句改得更明确")


def review_overdue(entry: Entry, max_age_days: int, today: dt.date) -> int | None:
    """Days since the entry was last reviewed, when that is more than max_age_days."""
    age = (today - entry.reviewed).days
    return age if age > max_age_days else None


def entry_warnings(kb: KnowledgeBase, max_age_days: int, today: dt.date) -> list[Problem]:
    """Per-entry warnings: too few phrasings, an old review date, an answer too long."""
    # Render with the values the bot really uses (the hotline text is long), not a placeholder.
    defaults = Settings()
    context = {"union_hotline": defaults.union_hotline, "union_name": defaults.union_name}
    problems = []
    for entry in kb.entries:
        def warn(message: str) -> None:
            problems.append(Problem(entry.file, entry.line, entry.id, message, "warning"))

        if len(entry.examples) < MIN_EXAMPLES:
            warn(f"只有 {len(entry.examples)} 种问法，至少写 {MIN_EXAMPLES} 种"
                 f"（口语、错别字、长短不同），机器人才认得出骑手的各种说法")
        age = review_overdue(entry, max_age_days, today)
        if age is not None:
            warn(f"上次审核是 {entry.reviewed.isoformat()}，已过去 {age} 天（超过 {max_age_days} 天）；"
                 f"请核对依据的法规政策有没有变化，再更新 reviewed 日期")
        length = len(kb.render_answer(entry, context))
        if length > MAX_ANSWER_CHARS:
            warn(f"回答生成后有 {length} 个字（含依据），超过 {MAX_ANSWER_CHARS} 字，手机上不好读；"
                 f"请精简，或拆成两条问答")
    return problems


class _ExampleLocator:
    """The line a phrasing is written on, found in the file text; the entry's own line when
    it cannot be found (the loader only records where each entry starts)."""

    def __init__(self, directory: Path):
        self._directory = directory
        self._files: dict[str, list[str]] = {}

    def _lines(self, file: str) -> list[str]:
        if file not in self._files:
            try:
                self._files[file] = (self._directory / file).read_text(encoding="utf-8").splitlines()
            except OSError:
                self._files[file] = []
        return self._files[file]

    def __call__(self, entry: Entry, example: str) -> int:
        lines = self._lines(entry.file)
        for number in range(entry.line, len(lines) + 1):
            text = lines[number - 1]
            if number > entry.line and _ENTRY_START.match(text):
                break  # into the next entry
            item = text.strip()
            if item.startswith("- ") and item[2:].strip().strip("'\"").strip() == example:
                return number
        return entry.line
