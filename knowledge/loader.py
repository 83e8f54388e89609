"""Reads the FAQ files into a KnowledgeBase, reporting every problem in plain Chinese with
file, line and entry so a staff member who is not a programmer can fix it."""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import yaml

from intents.danger import NUMBERS
from knowledge.model import TEMPLATES, CaseKind, Concepts, DangerSpec, Entry, KnowledgeBase, Source, TriggerPhrases

ID_PATTERN = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
REQUIRED_ENTRY_FIELDS = ("id", "title", "examples", "answer", "sources", "reviewed")
KNOWN_ENTRY_FIELDS = set(REQUIRED_ENTRY_FIELDS) | {"keywords", "tags", "needs_human", "offers_case", "related"}
DANGER_KINDS = ("violence", "medical", "traffic", "fire", "trapped", "selfharm", "plea")
DANGER_LISTS = ("ignore", "not_now", "policy", "now", "severe", "unhurt")
TRIGGER_LISTS = ("emergency", "handoff", "back_to_bot", "more", "greetings", "thanks", "report", "case_status",
                 "cancel")
# Variables every answer template may use; the app fills them from the settings.
SAMPLE_CONTEXT = {"union_hotline": "12351", "union_name": "工会"}
# System messages may also use what the engine passes them (the clarify question's choices).
MESSAGE_CONTEXT = {**SAMPLE_CONTEXT, "titles": ["问题一", "问题二"], "title": "问题一", "steps": ["问题一", "问题二"],
                   "known": ["类型：工资被拖欠", "平台：美团"],
                   "office_hours": "周一至周五 09:00-18:00", "next_open": "明天（周二）09:00",
                   "kinds": ["工资被拖欠", "受伤"], "number": "GH-2611-0001", "kind": "工资被拖欠",
                   "status": "已受理", "note": "已联系站点", "urgent": False, "count": 1, "numbers": "122、120",
                   "cases": [{"number": "GH-2611-0001", "kind": "工资被拖欠", "status": "已受理",
                              "updated": "11月21日"}]}


@dataclass(frozen=True)
class Problem:
    file: str
    line: int
    entry: str
    message: str
    severity: str = "error"  # "error" stops the file from serving; "warning" does not

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        label = "错误" if self.severity == "error" else "提醒"
        entry = f"（问答 {self.entry}）" if self.entry else ""
        return f"{where} {label}{entry}：{self.message}"


class KnowledgeError(Exception):
    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class _LineLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """SafeLoader that remembers the line each mapping starts on (as key '__line__'). libyaml's
    (CSafeLoader, in PyYAML's wheels) when present: the pure-Python parser took 2 of the 3 s a
    load of this base takes, and every FAQ save loads it twice (the check, then the reload)."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict[str, Any]:
    mapping = loader.construct_mapping(node, deep=True)
    mapping["__line__"] = node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def read_yaml(path: Path, problems: list[Problem], name: str | None = None) -> Any:
    name = name or path.name  # as staff see it: faq/pay.yaml, lexicon.yaml
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_LineLoader)
    except UnicodeDecodeError:
        problems.append(Problem(name, 0, "", "文件不是 UTF-8 编码，请用 UTF-8 保存"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 0
        reason = getattr(exc, "problem", None) or str(exc)
        problems.append(Problem(name, line, "", f"YAML 格式有误（{reason}），请检查缩进、冒号和引号"))
    except ValueError as exc:
        # PyYAML builds dates itself and raises a bare ValueError for one that does not exist
        # (2024-02-30); found by tests/test_fuzz.py, it used to escape `kb check` as a traceback.
        problems.append(Problem(name, 0, "", f"有一个日期不存在（{exc}），请按 2024-05-01 这样写真实的年月日"))
    except RecursionError:
        problems.append(Problem(name, 0, "", "括号或缩进嵌套太深，请检查文件"))
    return None


def _text_list(value: Any) -> list[str] | None:
    if isinstance(value, list) and all(isinstance(v, (str, int)) for v in value):
        return [str(v).strip() for v in value if str(v).strip()]
    return None


def _date_text(value: Any) -> str | None:
    """A document's date as written: 2012, 2021-07 or 2021-07-16 (old laws are cited by year)."""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, int) and 1949 <= value <= 2100:
        return str(value)
    if isinstance(value, str) and re.fullmatch(r"\d{4}(-\d{2}){0,2}", value.strip()):
        return value.strip()
    return None


def _parse_sources(raw: Any, report) -> tuple[Source, ...]:
    if not isinstance(raw, list) or not raw:
        report("sources 必须至少列出一个依据文件（title 和 date）")
        return ()
    sources = []
    for item in raw:
        if not isinstance(item, dict) or not str(item.get("title", "")).strip():
            report("sources 里每一项都要有 title（文件名称）")
            continue
        date = _date_text(item.get("date"))
        if date is None:
            report(f"依据《{item['title']}》缺少日期或日期格式不对（写成 2012、2021-07 或 2021-07-16）")
            continue
        sources.append(Source(title=str(item["title"]).strip(), date=date,
                              number=str(item.get("number") or "").strip(),
                              article=str(item.get("article") or "").strip(),
                              issuer=str(item.get("issuer") or "").strip()))
    return tuple(sources)


def parse_entry(raw: Any, file: str, problems: list[Problem]) -> Entry | None:
    if not isinstance(raw, dict):
        problems.append(Problem(file, 0, "", "entries 下的每一项都要以 \"- id:\" 开头"))
        return None
    line = raw.get("__line__", 0)
    entry_id = str(raw.get("id", "")).strip()
    before = len(problems)

    def report(message: str, severity: str = "error") -> None:
        problems.append(Problem(file, line, entry_id, message, severity))

    missing = [f for f in REQUIRED_ENTRY_FIELDS if raw.get(f) in (None, "", [])]
    if missing:
        report("缺少必填项：" + "、".join(missing))
    # YAML keys need not be text (`~:` is None, `1:` an int): named as written, never compared.
    unknown = sorted(str(key) for key in set(raw) - KNOWN_ENTRY_FIELDS - {"__line__"})
    if unknown:
        report("不认识的项：" + "、".join(unknown) + "（是否拼写错误？）")
    if entry_id and not ID_PATTERN.match(entry_id):
        report("id 只能用小写英文字母、数字和短横线，例如 pay-withheld")
    examples = _text_list(raw.get("examples"))
    if raw.get("examples") is not None and examples is None:
        report("examples 必须是一列问法，每行以 \"- \" 开头")
    keywords = _text_list(raw.get("keywords", [])) or []
    tags = _text_list(raw.get("tags", [])) or []
    answer = raw.get("answer")
    if answer is not None and not isinstance(answer, str):
        report("answer 必须是文字（建议用 \"answer: |\" 然后换行缩进书写）")
        answer = None
    elif answer:
        render_problem = check_template(answer)
        if render_problem:
            report(f"answer 模板无法生成：{render_problem}")
    sources = _parse_sources(raw.get("sources"), report) if raw.get("sources") else ()
    reviewed = raw.get("reviewed")
    if reviewed is not None and not isinstance(reviewed, dt.date):
        report("reviewed 必须是日期，例如 2026-11-21")
    for flag in ("needs_human", "offers_case"):
        if flag in raw and not isinstance(raw[flag], bool):
            report(f"{flag} 只能写 true 或 false")
    related = raw.get("related") or {}
    if not isinstance(related, dict) or not all(isinstance(v, str) for k, v in related.items() if k != "__line__"):
        report("related 要写成 追问: 问答id，例如 材料: injury-evidence")
        related = {}
    related = {str(k): v.strip() for k, v in related.items() if k != "__line__"}
    if any(p.severity == "error" for p in problems[before:]):
        return None
    return Entry(id=entry_id, title=str(raw["title"]).strip(), examples=tuple(examples or ()),
                 answer=answer, sources=sources, reviewed=reviewed, keywords=tuple(keywords),
                 tags=tuple(tags), needs_human=bool(raw.get("needs_human", False)),
                 offers_case=bool(raw.get("offers_case", False)), related=related, file=file, line=line)


def check_template(source: str, context: dict[str, Any] = SAMPLE_CONTEXT) -> str | None:
    """None when the template renders with the variables the bot provides, else why not."""
    try:
        TEMPLATES.from_string(source).render(context)
    except jinja2.UndefinedError as exc:
        return f"用了不存在的变量（{exc.message}）；可用的变量：" + "、".join(context)
    except jinja2.TemplateError as exc:
        return f"{{{{ }}}} 或 {{% %}} 写法有误（{exc}）"
    except Exception as exc:  # {{ 1/0 }}, {{ "a" + 1 }}: fails when rendered (found by tests/test_fuzz.py)
        return f"{{{{ }}}} 里的内容算不出来（{type(exc).__name__}: {exc}）"
    return None


# knowledge/stations.yaml: what riders are told about rest stations, and the variables each
# message is rendered with (bot/stations_desk.py).
STATION_MESSAGES = ("found", "station_item", "status_open", "status_closing", "status_closed", "status_unknown",
                    "all_closed", "none_near", "ask_location", "ask_location_web", "place_found", "place_unknown",
                    "sample_notice")
STATION_CONTEXT = {**SAMPLE_CONTEXT, "stations": ["1. 示例"], "services": "充电", "none_with_services": False,
                   "closer_closed": {"name": "示例", "distance": "300 米", "hours": "8-20"},
                   "n": 1, "name": "示例", "distance": "300 米", "minutes": 2, "status": "", "restricted": True,
                   "address": "示例路 1 号", "hours": "08:00-20:00", "phone": "123", "link": "https://uri.amap.com/",
                   "place": "黄浦区", "total": 4}


def load_station_wording(path: Path) -> dict[str, str]:
    """The messages of stations.yaml, each checked as answers are (check_template). Raises
    ValueError naming what is wrong, yaml.YAMLError for a file that is not YAML."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    messages = data.get("messages") if isinstance(data, dict) else None
    if not isinstance(messages, dict):
        raise ValueError(f"{path.name}: 要有 messages: 一节")
    missing = [name for name in STATION_MESSAGES if not isinstance(messages.get(name), str)]
    if missing:
        raise ValueError(f"{path.name}: 缺少消息 {', '.join(missing)}")
    for name in STATION_MESSAGES:
        if why := check_template(messages[name], STATION_CONTEXT):
            raise ValueError(f"{path.name}: 消息 {name} 写错了（{why}）")
    return messages


def _load_faq_file(path: Path, problems: list[Problem]) -> list[Entry]:
    rel = f"faq/{path.name}"
    data = read_yaml(path, problems, rel)
    if data is None:
        return []
    if not isinstance(data, dict) or not isinstance(data.get("entries"), list):
        problems.append(Problem(rel, 1, "", "文件最上层要有 \"entries:\"，下面列出问答"))
        return []
    return [e for e in (parse_entry(raw, rel, problems) for raw in data["entries"]) if e]


def _top_mapping(path: Path, problems: list[Problem], groups: str) -> dict[str, Any] | None:
    """An optional file whose top level is named groups: {} when it is absent, None (reported)
    when it is not a mapping."""
    data = read_yaml(path, problems) if path.exists() else {}
    if not isinstance(data, dict):
        problems.append(Problem(path.name, 1, "", f"{path.name} 的最上层要是 {groups}"))
        return None
    return data


def _load_lexicon(path: Path, problems: list[Problem]
                  ) -> tuple[dict[str, str], TriggerPhrases, tuple[str, ...], dict[str, str]]:
    """Synonyms (platform names included), trigger phrases, the canonical platform names, and
    the dialect words (variant -> the standard word)."""
    data = _top_mapping(path, problems, "synonyms、platforms 等分组")
    if data is None:
        return {}, TriggerPhrases(), (), {}
    synonyms = _word_groups(path, data, ("synonyms", "platforms"), problems)
    dialect = _word_groups(path, data, ("dialect",), problems)
    lists = {}
    for name in TRIGGER_LISTS:
        words = _text_list(data.get(name, []))
        if words is None:
            problems.append(Problem(path.name, 0, "", f"{name} 必须是一列词语"))
            words = []
        lists[name] = tuple(words)
    platforms = data.get("platforms")
    names = tuple(str(n) for n in platforms if n != "__line__") if isinstance(platforms, dict) else ()
    return synonyms, TriggerPhrases(**lists), names, dialect


def _word_groups(path: Path, data: dict, groups: tuple[str, ...], problems: list[Problem]) -> dict[str, str]:
    """标准词: [说法, ...] tables as variant -> standard word."""
    synonyms: dict[str, str] = {}
    for group in groups:
        table = data.get(group) or {}
        if not isinstance(table, dict):
            problems.append(Problem(path.name, 0, "", f"{group} 的格式应为 标准词: [说法1, 说法2]"))
            continue
        for canonical, variants in table.items():
            if canonical == "__line__":
                continue
            words = _text_list(variants)
            if words is None:
                problems.append(Problem(path.name, table.get("__line__", 0), "",
                                        f"{group} 里「{canonical}」的说法要写成列表 [说法1, 说法2]"))
                continue
            for word in words:
                if word in synonyms and synonyms[word] != str(canonical):
                    problems.append(Problem(path.name, table.get("__line__", 0), "",
                                            f"「{word}」同时是「{synonyms[word]}」和「{canonical}」的同义词"))
                synonyms[word] = str(canonical)
    return synonyms


def _load_messages(path: Path, problems: list[Problem]) -> tuple[dict[str, str], dict[str, str]]:
    data = read_yaml(path, problems) if path.exists() else None
    if not isinstance(data, dict) or not isinstance(data.get("messages"), dict):
        problems.append(Problem(path.name, 1, "", "messages.yaml 要有 \"messages:\" 一节"))
        return {}, {}
    messages = {k: v for k, v in data["messages"].items() if k != "__line__"}
    for name, text in messages.items():
        if not isinstance(text, str):
            problems.append(Problem(path.name, 0, "", f"消息 {name} 必须是文字"))
        elif problem := check_template(text, MESSAGE_CONTEXT):
            problems.append(Problem(path.name, 0, "", f"消息 {name} 无法生成：{problem}"))
    menu = {str(k): str(v) for k, v in (data.get("menu") or {}).items() if k != "__line__"}
    return messages, menu


REQUIRED_MESSAGES = (
    "welcome", "fallback", "fallback_offer_human", "clarify", "handoff", "holding", "emergency",
    "greeting", "thanks", "voice_unrecognised", "media_received", "location", "back_to_bot",
    "disclaimer", "more_hint", "no_more", "needs_human_hint", "after_hours", "person_closed",
    "case_offer", "intake_privacy", "intake_kind", "intake_platform", "intake_city", "intake_when",
    "intake_story", "intake_phone", "intake_phone_invalid", "intake_evidence", "intake_evidence_received",
    "intake_done", "intake_cancelled", "intake_expired", "case_status", "case_none", "case_notice",
    "emergency_violence", "emergency_medical", "emergency_traffic", "emergency_fire", "emergency_trapped",
    "emergency_selfharm", "emergency_plea", "confirm", "interjection", "next_steps", "intake_known",
    "web_welcome", "web_too_fast", "scan_received", "still_waiting", "answer_guess", "still_in_danger",
)


def load_knowledge(directory: str | Path) -> tuple[KnowledgeBase | None, list[Problem]]:
    """Load everything; return the base (None when any error was found) and all problems."""
    directory = Path(directory)
    problems: list[Problem] = []
    synonyms, triggers, platforms, dialect = _load_lexicon(directory / "lexicon.yaml", problems)
    messages, menu = _load_messages(directory / "messages.yaml", problems)
    for name in REQUIRED_MESSAGES:
        if messages and name not in messages:
            problems.append(Problem("messages.yaml", 0, "", f"缺少系统消息 {name}"))
    for kind, numbers in NUMBERS.items():  # a danger reply without its number is a safety bug
        text = messages.get(f"emergency_{kind}")
        if isinstance(text, str) and (missing := [n for n in numbers if n not in text]):
            problems.append(Problem("messages.yaml", 0, "", f"消息 emergency_{kind} 必须写明电话 " + "、".join(missing)))
    # Repeated while an emergency may still be going on: the kind's numbers are filled in there.
    if isinstance(text := messages.get("still_in_danger"), str) and "numbers" not in text:
        problems.append(Problem("messages.yaml", 0, "", "消息 still_in_danger 必须写 {{ numbers }}（该类危险的电话）"))
    # A sender the web chat slows down may be one in danger typing fast.
    if isinstance(text := messages.get("web_too_fast"), str) and not ("110" in text and "120" in text):
        problems.append(Problem("messages.yaml", 0, "", "消息 web_too_fast 必须写明电话 110 和 120"))
    files = sorted((directory / "faq").glob("*.yaml"))
    if not files:
        problems.append(Problem("faq/", 0, "", "没有找到任何问答文件（faq/*.yaml）"))
    entries: list[Entry] = []
    for path in files:
        entries.extend(_load_faq_file(path, problems))
    seen: dict[str, Entry] = {}
    for entry in entries:
        if entry.id in seen:
            first = seen[entry.id]
            problems.append(Problem(entry.file, entry.line, entry.id,
                                    f"id 重复：{first.file} 第 {first.line} 行已经用过这个 id"))
        else:
            seen[entry.id] = entry
    for key, entry_id in menu.items():
        if entry_id not in seen:
            problems.append(Problem("messages.yaml", 0, "", f"菜单 {key} 指向不存在的问答 {entry_id}"))
    concepts = _load_concepts(directory / "concepts.yaml", problems)
    for entry in seen.values():
        for aspect, target in entry.related.items():
            if aspect not in concepts.aspects and aspect not in concepts.situation_topics:
                problems.append(Problem(entry.file, entry.line, entry.id, f"related 里的追问「{aspect}」不在 concepts.yaml 的"
                                        " aspects 或 situation_topics 里（可用：" +
                                        "、".join([*concepts.aspects, *concepts.situation_topics]) + "）"))
            if target not in seen:
                problems.append(Problem(entry.file, entry.line, entry.id, f"related 指向不存在的问答 {target}"))
    danger = _load_danger(directory / "danger.yaml", problems)
    for kind, entry_id in danger.about.items():
        if entry_id not in seen:
            problems.append(Problem("danger.yaml", 0, "", f"危险种类 {kind} 的 about 指向不存在的问答 {entry_id}"))
    offtopic = _load_offtopic(directory / "offtopic.yaml", problems)
    phrasings = {text: entry.id for entry in seen.values() for text in entry.examples}
    for text in offtopic:
        if text in phrasings:
            problems.append(Problem("offtopic.yaml", 0, "", f"「{text}」也是问答 {phrasings[text]} 的问法：不能既是问答又是无关的话"))
    case_kinds = _load_case_kinds(directory / "cases.yaml", problems)
    for kind in case_kinds:
        for topic in kind.topics:
            if any(t not in concepts.topics for t in topic.split("+")):
                problems.append(Problem("cases.yaml", 0, kind.id, f"topics 里的「{topic}」不是 concepts.yaml 里的话题"))
    if any(p.severity == "error" for p in problems):
        return None, problems
    return KnowledgeBase(entries=tuple(seen.values()), synonyms=synonyms, triggers=triggers,
                         messages=messages, menu=menu, case_kinds=case_kinds, concepts=concepts,
                         platforms=platforms, offtopic=offtopic, dialect=dialect,
                         danger=danger), problems


def _word_table(data: Any, group: str, file: str, problems: list[Problem]) -> dict[str, tuple[str, ...]]:
    """{name: [words]} as written in concepts.yaml and danger.yaml."""
    table = data.get(group) if isinstance(data, dict) else None
    if table is None:
        return {}
    if not isinstance(table, dict):
        problems.append(Problem(file, 0, "", f"{group} 的格式应为 概念名: [说法1, 说法2]"))
        return {}
    out = {}
    for name, words in table.items():
        if name == "__line__":
            continue
        listed = _text_list(words)
        if listed is None:
            problems.append(Problem(file, table.get("__line__", 0), "", f"{group} 里「{name}」的说法要写成列表 [说法1, 说法2]"))
            continue
        out[str(name)] = tuple(listed)
    return out


def _rule_list(value: Any, where: str, file: str, problems: list[Problem]) -> tuple[str, ...]:
    rules = _text_list(value if value is not None else [])
    if rules is None:
        problems.append(Problem(file, 0, "", f"{where} 的 when 要写成列表 [规则1, 规则2]"))
        return ()
    return tuple(rules)


def _load_concepts(path: Path, problems: list[Problem]) -> Concepts:
    data = _top_mapping(path, problems, "topics、aspects、handoff")
    if data is None:
        return Concepts()
    handoff = data.get("handoff") or {}
    if not isinstance(handoff, dict):
        problems.append(Problem(path.name, 0, "", "handoff 下要有 concepts 和 when"))
        handoff = {}
    topics = _word_table(data, "topics", path.name, problems)
    rider_topics = _topic_names(data, "rider_topics", topics, path.name, problems)
    situation_topics = _topic_names(data, "situation_topics", topics, path.name, problems)
    new_subject = _text_list(data.get("new_subject", []))
    if new_subject is None:
        problems.append(Problem(path.name, 0, "", "new_subject 必须是一列说法"))
    return Concepts(topics=topics, rider_topics=rider_topics, situation_topics=situation_topics,
                    new_subject=tuple(new_subject or ()),
                    aspects=_word_table(data, "aspects", path.name, problems),
                    handoff_concepts=_word_table(handoff, "concepts", path.name, problems),
                    handoff_rules=_rule_list(handoff.get("when"), "handoff", path.name, problems))


def _topic_names(data: dict, key: str, topics: dict, file: str, problems: list[Problem]) -> tuple[str, ...]:
    names = _text_list(data.get(key, []))
    if names is None:
        problems.append(Problem(file, 0, "", f"{key} 必须是一列话题名"))
        return ()
    for name in names:
        if name not in topics:
            problems.append(Problem(file, 0, "", f"{key} 里的「{name}」不是 topics 里的话题"))
    return tuple(names)


def _load_danger(path: Path, problems: list[Problem]) -> DangerSpec:
    data = _top_mapping(path, problems, "concepts、kinds 等分组")
    if data is None:
        return DangerSpec()
    kinds_raw = data.get("kinds") or {}
    kinds: dict[str, tuple[str, ...]] = {}
    about: dict[str, str] = {}
    if not isinstance(kinds_raw, dict):
        problems.append(Problem(path.name, 0, "", "kinds 下要按种类写 when 规则"))
        kinds_raw = {}
    for name, body in kinds_raw.items():
        if name == "__line__":
            continue
        if name not in DANGER_KINDS:
            problems.append(Problem(path.name, 0, "", f"不认识的危险种类「{name}」（可用：" + "、".join(DANGER_KINDS) + "）"))
            continue
        kinds[name] = _rule_list(body.get("when") if isinstance(body, dict) else None, name, path.name, problems)
        if isinstance(body, dict) and body.get("about") is not None:
            if not isinstance(body["about"], str) or not body["about"].strip():
                problems.append(Problem(path.name, 0, "", f"危险种类 {name} 的 about 要写一条问答的 id"))
            else:
                about[name] = body["about"].strip()
    for name in DANGER_KINDS:
        if not kinds.get(name):
            problems.append(Problem(path.name, 0, "", f"危险种类 {name} 没有规则：这类危险将认不出来"))
    lists = {}
    for name in DANGER_LISTS:
        words = _text_list(data.get(name, []))
        if words is None:
            problems.append(Problem(path.name, 0, "", f"{name} 必须是一列词语"))
        lists[name] = tuple(words or ())
    concepts = _word_table(data, "concepts", path.name, problems)
    for name in lists["severe"]:  # the detector reads severe as concept names only
        if name not in concepts:
            problems.append(Problem(path.name, 0, "", f"severe 里的「{name}」不是 concepts 里的概念名：要写概念名"
                                    "（比如 意识、呼吸），单个说法请先放进一个概念"))
    for phrase, word in ignore_conflicts(lists["ignore"], concepts):
        problems.append(Problem(path.name, 0, "", f"ignore 里的「{phrase}」会把危险说法「{word}」去掉"
                                f"（例如“{word}了”），骑手说这句话时机器人会认不出危险：请删掉或改长"))
    examples, calm = _load_danger_examples(path.parent / "danger_examples.yaml", problems)
    return DangerSpec(concepts=concepts, kinds=kinds, about=about, examples=examples, calm=calm, **lists)


def _load_offtopic(path: Path, problems: list[Problem]) -> tuple[str, ...]:
    data = _top_mapping(path, problems, "examples")
    if data is None:
        return ()
    examples = _text_list(data.get("examples", []))
    if examples is None:
        problems.append(Problem(path.name, 0, "", "examples 必须是一列消息"))
    return tuple(examples or ())


def _load_danger_examples(path: Path, problems: list[Problem]) -> tuple[tuple[tuple[str, str], ...], tuple[str, ...]]:
    data = _top_mapping(path, problems, "danger 和 calm")
    if data is None:
        return (), ()
    by_kind = _word_table(data, "danger", path.name, problems)
    for kind in by_kind:
        if kind not in DANGER_KINDS:
            problems.append(Problem(path.name, 0, "", f"不认识的危险种类「{kind}」（可用：" + "、".join(DANGER_KINDS) + "）"))
    calm = _text_list(data.get("calm", []))
    if calm is None:
        problems.append(Problem(path.name, 0, "", "calm 必须是一列消息"))
    examples = tuple((kind, text) for kind, texts in by_kind.items() if kind in DANGER_KINDS for text in texts)
    return examples, tuple(calm or ())


def ignore_conflicts(ignore: tuple[str, ...], concepts: dict[str, tuple[str, ...]]) -> list[tuple[str, str]]:
    """(ignored phrase, danger word) where masking the phrase would hide the word: 火了 in
    着火了, 卡里 in 卡里面. Checked on the word alone and as riders add 了 or 啊 to it."""
    from intents.normalise import clean

    conflicts = []
    words = {clean(w) for ws in concepts.values() for w in ws if "…" not in w and "..." not in w}
    for phrase in {clean(p) for p in ignore} - {""}:
        # Hiding a word means sharing a character with it: the cheap test skips most pairs.
        for word in sorted(w for w in words if w and not set(phrase).isdisjoint(w)):
            if any(phrase in said and word not in said.replace(phrase, "｜") for said in (word, word + "了", word + "啊")):
                conflicts.append((phrase, word))
    return conflicts


def _load_case_kinds(path: Path, problems: list[Problem]) -> tuple[CaseKind, ...]:
    """The kinds of problem a rider can report (cases.yaml), in the order riders see them."""
    data = read_yaml(path, problems) if path.exists() else None
    raw = data.get("kinds") if isinstance(data, dict) else None
    if not isinstance(raw, list) or not raw:
        problems.append(Problem(path.name, 1, "", "cases.yaml 要有 \"kinds:\" 一节，列出可以登记的问题种类"))
        return ()
    kinds: list[CaseKind] = []
    for item in raw:
        line = item.get("__line__", 0) if isinstance(item, dict) else 0
        if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not isinstance(item.get("title"), str):
            problems.append(Problem(path.name, line, "", "每个种类要有 id 和 title"))
            continue
        words = _text_list(item.get("words", [])) or []
        topics = _text_list(item.get("topics", [])) or []
        kinds.append(CaseKind(item["id"], item["title"], bool(item.get("urgent", False)), tuple(words), tuple(topics)))
    ids = [k.id for k in kinds]
    for kind_id in {i for i in ids if ids.count(i) > 1}:
        problems.append(Problem(path.name, 0, kind_id, f"种类 id 重复：{kind_id}"))
    return tuple(kinds)
