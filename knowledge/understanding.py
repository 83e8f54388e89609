"""`gigdesk kb eval --set DIR`: how well the bot understands riders, measured through the real
conversation engine (danger, handoff, FAQ, follow-ups in context, fallback) on a throw-away
SQLite database, not through the matcher alone.

A set is a folder written by people who saw neither the FAQ, the lexicon nor the code:
- questions.yaml: questions: [{text, topic}], handoff: [{text}], offtopic: [{text}]
- danger.yaml: danger: [{text, kind}], not_danger: [{text, why}]
- conversations.yaml: conversations: [{id, turns: [{text, expect}]}]; expect is an entry id,
  handoff, offtopic, danger:<kind> or any.
tests/data/understanding/dev is tuned on; tests/data/understanding/test is not."""
from __future__ import annotations

import json
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import yaml

from bot.brain import build_brain
from bot.conversation import Engine, Inbound, Reply
from intents.danger import KINDS, NUMBERS
from knowledge.loader import KnowledgeError, load_knowledge
from storage import Store

CONTEXT = {"union_hotline": "12351", "union_name": "工会"}
OFFERED = ("answer", "followup", "chosen", "clarify", "emergency")
NOT_A_TOPIC = ("fallback", "greeting", "thanks", "interjection", "handoff")
START = 1_767_225_600.0  # 2026-01-01: a fixed clock keeps runs comparable
GAP = 40.0  # seconds between a rider's messages in a conversation


@dataclass
class Tally:
    right: int = 0
    total: int = 0

    def add(self, ok: bool) -> None:
        self.right += ok
        self.total += 1

    def __str__(self) -> str:
        share = self.right / self.total if self.total else 0.0
        return f"{share:.1%}（{self.right}/{self.total}）"


@dataclass
class Report:
    answered: Tally = field(default_factory=Tally)  # answered outright with the right entry
    first: Tally = field(default_factory=Tally)  # the right entry answered or offered first
    offered: Tally = field(default_factory=Tally)  # answered, or among the choices offered
    wrong_answers: list[tuple[str, str, str]] = field(default_factory=list)  # (expected, got, text)
    danger: dict[str, Tally] = field(default_factory=lambda: {k: Tally() for k in KINDS})
    danger_numbers: Tally = field(default_factory=Tally)  # the reply gave every number the kind needs
    false_alarms: list[str] = field(default_factory=list)
    not_danger: int = 0
    handoff: Tally = field(default_factory=Tally)
    offtopic: Tally = field(default_factory=Tally)  # neither answered as a topic nor shown a menu
    follow_ups: Tally = field(default_factory=Tally)  # later turns of a conversation, in context
    turns: Tally = field(default_factory=Tally)
    misses: list[str] = field(default_factory=list)

    @property
    def danger_all(self) -> Tally:
        return Tally(sum(t.right for t in self.danger.values()), sum(t.total for t in self.danger.values()))


class Bot:
    """The engine on a throw-away database, one rider per conversation."""

    def __init__(self, knowledge_dir: str | Path, folder: Path):
        kb, problems = load_knowledge(knowledge_dir)
        if kb is None:
            raise KnowledgeError([p for p in problems if p.severity == "error"])
        self.kb = kb
        self.engine = Engine(build_brain(kb), CONTEXT)
        self.store = Store(folder / "eval.sqlite")
        self.riders = 0

    def rider(self) -> str:
        self.riders += 1
        return f"eval_{self.riders}"

    def say(self, openid: str, text: str, at: float) -> tuple[Reply | None, list[str]]:
        """The reply, and the entries it offered (its answer, or the choices it listed)."""
        with self.store.transaction():
            reply = self.engine.handle(self.store, Inbound("wechat", openid, "text", at, text=text))
            conversation = self.store.open_conversation(f"wechat:{openid}", at)
        offered = [reply.answered] if reply and reply.answered else []
        data = json.loads((conversation or {}).get("pending") or "{}")
        if reply and reply.outcome == "clarify":
            offered += data.get("choices") or ([data["confirm"]] if data.get("confirm") else [])
        return reply, offered


def measure(knowledge_dir: str | Path, set_dir: str | Path) -> Report:
    set_dir = Path(set_dir)
    report = Report()
    with tempfile.TemporaryDirectory() as tmp:
        bot = Bot(knowledge_dir, Path(tmp))
        try:
            _questions(bot, _load(set_dir / "questions.yaml"), report)
            _danger(bot, _load(set_dir / "danger.yaml"), report)
            _conversations(bot, _load(set_dir / "conversations.yaml"), report)
        finally:
            bot.store.close()
    return report


def _load(path: Path) -> dict:
    return (yaml.safe_load(path.read_text(encoding="utf-8")) or {}) if path.exists() else {}


def _questions(bot: Bot, data: dict, report: Report) -> None:
    for item in data.get("questions") or []:
        reply, offered = bot.say(bot.rider(), str(item["text"]), START)
        expected = item["topic"]
        answered = reply.answered if reply else ""
        report.answered.add(answered == expected)
        report.first.add(bool(offered) and offered[0] == expected)
        report.offered.add(expected in offered)
        if answered and answered != expected:
            report.wrong_answers.append((expected, answered, str(item["text"])))
        if expected not in offered:
            report.misses.append(f"问题 {expected} -> {reply.outcome if reply else '-'} "
                                 f"{reply.intent if reply else ''}：{item['text']}")
    for item in data.get("handoff") or []:
        reply, _ = bot.say(bot.rider(), str(item["text"]), START)
        ok = bool(reply) and reply.outcome == "handoff"
        report.handoff.add(ok)
        if not ok:
            report.misses.append(f"转人工 -> {reply.outcome if reply else '-'}：{item['text']}")
    for item in data.get("offtopic") or []:
        reply, _ = bot.say(bot.rider(), str(item["text"]), START)
        ok = reply is None or reply.outcome in NOT_A_TOPIC
        report.offtopic.add(ok)
        if not ok:
            report.misses.append(f"无关 -> {reply.outcome} {reply.intent}：{item['text']}")


def _danger(bot: Bot, data: dict, report: Report) -> None:
    for item in data.get("danger") or []:
        reply, _ = bot.say(bot.rider(), str(item["text"]), START)
        found = _danger_reply(reply)
        report.danger[item["kind"]].add(found)
        needed = NUMBERS[item["kind"]]
        missing = [n for n in needed if n not in reply.text] if found else list(needed)
        report.danger_numbers.add(found and not missing)
        if found and missing:
            report.misses.append(f"危险 {item['kind']} 缺电话 {'、'.join(missing)} -> {reply.intent}：{item['text']}")
        if not found:
            report.misses.append(f"危险 {item['kind']} -> {reply.outcome if reply else '-'}：{item['text']}")
    for item in data.get("not_danger") or []:
        reply, _ = bot.say(bot.rider(), str(item["text"]), START)
        report.not_danger += 1
        if _danger_reply(reply):
            report.false_alarms.append(str(item["text"]))


def _danger_reply(reply: Reply | None) -> bool:
    """The emergency reply, or a plea handed to a person urgently with the numbers (有人吗 有人吗,
    来个人啊: a handoff whose intent is emergency:plea)."""
    return bool(reply) and (reply.outcome == "emergency" or reply.intent.startswith("emergency:"))


def _conversations(bot: Bot, data: dict, report: Report) -> None:
    for conversation in data.get("conversations") or []:
        openid = bot.rider()
        for i, turn in enumerate(conversation.get("turns") or []):
            reply, offered = bot.say(openid, str(turn["text"]), START + i * GAP)
            ok = _turn_right(str(turn["expect"]), reply)
            if ok is None:
                continue
            report.turns.add(ok)
            if i > 0:
                report.follow_ups.add(ok)
            if not ok:
                report.misses.append(f"对话 {conversation.get('id')} 第{i + 1}句 期望 {turn['expect']} -> "
                                     f"{reply.outcome if reply else '-'} {reply.intent if reply else ''}：{turn['text']}")


def _turn_right(expect: str, reply: Reply | None) -> bool | None:
    if expect == "any":
        return None
    outcome = reply.outcome if reply else ""
    if expect == "handoff":
        return outcome == "handoff"
    if expect == "offtopic":
        return reply is None or outcome in NOT_A_TOPIC
    if expect.startswith("danger"):
        return _danger_reply(reply)
    return reply is not None and reply.answered == expect


def print_report(report: Report, out: TextIO, misses: bool = False) -> None:
    r = report
    print(f"FAQ 问题：直接回答且正确 {r.answered}；正确问答排第一（回答或第一个选项）{r.first}；"
          f"给出了正确问答 {r.offered}；直接答错 {len(r.wrong_answers)} 条", file=out)
    for expected, got, text in r.wrong_answers:
        print(f"  答错：期望 {expected}，回答了 {got}：{text}", file=out)
    print(f"危险情况：识别 {r.danger_all}；回复里有该类电话 {r.danger_numbers}；"
          f"误报 {len(r.false_alarms)}/{r.not_danger}", file=out)
    print("  按种类：" + "，".join(f"{k} {t}" for k, t in r.danger.items() if t.total), file=out)
    print(f"转人工：{r.handoff}；无关消息没被当成问答、没给菜单：{r.offtopic}", file=out)
    print(f"多轮对话：追问（第二句起）{r.follow_ups}；全部各句 {r.turns}", file=out)
    if misses:
        for line in r.misses + [f"误报：{t}" for t in r.false_alarms]:
            print("  " + line, file=out)


def run_set(knowledge_dir: str | Path, set_dir: str | Path, misses: bool = False, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    if not Path(set_dir).is_dir():
        print(f"找不到测试集文件夹 {set_dir}", file=out)
        return 2
    print_report(measure(knowledge_dir, set_dir), out, misses)
    return 0

