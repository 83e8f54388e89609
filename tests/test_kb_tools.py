"""`gigdesk kb check` and `gigdesk kb eval`: what staff and CI see.

The broken cases edit a copy of the real knowledge files the way a staff member might, and
look for the file, line and entry in the message. No timings are asserted anywhere."""
from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main
from knowledge import load_knowledge
from knowledge.check import MAX_ANSWER_CHARS, MIN_EXAMPLES, check_knowledge, entry_warnings
from knowledge.evaluate import Guess, Question, evaluate, print_report

ROOT = Path(__file__).parent.parent
KNOWLEDGE = ROOT / "knowledge"
HELDOUT = Path(__file__).parent / "data" / "heldout.yaml"


@pytest.fixture
def kb_dir(tmp_path) -> Path:
    target = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE, target)
    return target


def edit(path: Path, old: str, new: str) -> int:
    """Replace the first `old` in the file; return the line number it started on."""
    text = path.read_text("utf-8")
    assert old in text, f"{old!r} not in {path.name}: the fixture edit needs updating"
    before = text[:text.index(old)]
    path.write_text(before + new + text[len(before) + len(old):], "utf-8")
    return before.count("\n") + 1


def line_of(path: Path, needle: str) -> int:
    for number, line in enumerate(path.read_text("utf-8").splitlines(), 1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in {path.name}")


def kb_check(capsys, directory: Path) -> tuple[int, str]:
    status = main(["kb", "check", "--knowledge-dir", str(directory)])
    return status, capsys.readouterr().out


def kb_eval(capsys, *args: str) -> tuple[int, str]:
    status = main(["kb", "eval", "--knowledge-dir", str(KNOWLEDGE), "--heldout", str(HELDOUT), *args])
    return status, capsys.readouterr().out


# --- kb check ----------------------------------------------------------------------------------

def test_check_passes_on_the_shipped_knowledge(capsys):
    status, out = kb_check(capsys, KNOWLEDGE)
    assert status == 0, out
    assert re.search(r"检查完成：\d+ 条问答，0 个错误，\d+ 个提醒$", out.strip())


def test_check_reports_broken_yaml_with_file_and_line(capsys, kb_dir):
    hours = kb_dir / "faq" / "hours.yaml"
    # An ASCII colon inside a value: the commonest way staff break YAML.
    line = edit(hours, "title: 工作时间怎么算", "title: 工作时间: 怎么算")
    status, out = kb_check(capsys, kb_dir)
    assert status == 1
    assert f"hours.yaml:{line} 错误" in out and "YAML 格式有误" in out
    assert "检查完成：问答未能读入，1 个错误" in out


def test_check_reports_a_missing_field(capsys, kb_dir):
    hours = kb_dir / "faq" / "hours.yaml"
    entry_line = line_of(hours, "id: hours-working-time")
    edit(hours, "    title: 工作时间怎么算、在线等单算不算\n", "")
    status, out = kb_check(capsys, kb_dir)
    assert status == 1
    assert f"faq/hours.yaml:{entry_line} 错误（问答 hours-working-time）：缺少必填项：title" in out


def test_check_reports_a_duplicate_id_across_files(capsys, kb_dir):
    # Files are read in name order, so the copy in union.yaml is the one reported.
    union = kb_dir / "faq" / "union.yaml"
    line = edit(union, "id: union-join-how", "id: pay-withheld")
    first = line_of(kb_dir / "faq" / "pay.yaml", "id: pay-withheld")
    status, out = kb_check(capsys, kb_dir)
    assert status == 1
    assert f"faq/union.yaml:{line} 错误（问答 pay-withheld）：id 重复：faq/pay.yaml 第 {first} 行" in out


def test_check_reports_an_example_copied_into_another_entry(capsys, kb_dir):
    union = kb_dir / "faq" / "union.yaml"  # read after pay.yaml, so this is the copy reported
    # Traditional script and punctuation: still the same question after normalising.
    line = edit(union, "      - 骑手怎么加入工会\n", "      - 骑手怎么加入工会\n      - 工資被拖欠了，怎麼辦？\n") + 1
    original = line_of(kb_dir / "faq" / "pay.yaml", "- 工资被拖欠了怎么办")
    status, out = kb_check(capsys, kb_dir)
    assert status == 1, out
    [message] = [m for m in out.splitlines() if "工資被拖欠了，怎麼辦？" in m]
    assert message.startswith(f"faq/union.yaml:{line} 错误（问答 union-join-how）")
    assert f"faq/pay.yaml 第 {original} 行问答 pay-withheld" in message
    assert "检查完成：" in out and "1 个错误" in out


def test_check_reports_a_template_with_an_undefined_variable(capsys, kb_dir):
    pay = kb_dir / "faq" / "pay.yaml"
    edit(pay, "{{ union_hotline }}", "{{ union_phone }}")
    entry_line = line_of(pay, "id: pay-withheld")
    status, out = kb_check(capsys, kb_dir)
    assert status == 1
    [message] = [m for m in out.splitlines() if "union_phone" in m]
    assert message.startswith(f"faq/pay.yaml:{entry_line} 错误（问答 pay-withheld）：answer 模板无法生成")


def test_an_old_review_date_is_a_warning_only(capsys, kb_dir):
    pay = kb_dir / "faq" / "pay.yaml"
    entry_line = line_of(pay, "id: pay-withheld")
    edit(pay, "reviewed: 2026-11-21", "reviewed: 2020-01-01")  # the first entry's
    status, out = kb_check(capsys, kb_dir)
    assert status == 0, out
    assert any(m.startswith(f"faq/pay.yaml:{entry_line} 提醒（问答 pay-withheld）：上次审核是 2020-01-01")
               for m in out.splitlines())
    assert "，0 个错误，" in out


def test_check_warns_about_thin_entries_long_answers_and_confusable_examples(capsys, kb_dir):
    hours = kb_dir / "faq" / "hours.yaml"
    # Thin: hours-working-time keeps MIN_EXAMPLES - 1 of its examples.
    text = hours.read_text("utf-8")
    start = text.index("    examples:\n", text.index("id: hours-working-time")) + len("    examples:\n")
    end = text.index("    keywords:", start)
    kept = text[start:end].splitlines(keepends=True)[:MIN_EXAMPLES - 1]
    hours.write_text(text[:start] + "".join(kept) + text[end:], "utf-8")
    # Long: pay-withheld's answer (the first in pay.yaml) grows past the limit.
    pay = kb_dir / "faq" / "pay.yaml"
    edit(pay, "    answer: |\n", "    answer: |\n      " + "请保存好证据。" * (MAX_ANSWER_CHARS // 7 + 1) + "\n")
    # Confusable: a deposit question filed under heat-allowance, which the rest of that entry
    # cannot claim when it is left out.
    heat = kb_dir / "faq" / "heat.yaml"
    stray = edit(heat, "    examples:\n", "    examples:\n      - 交的押金不给退\n") + 1

    problems = check_knowledge(kb_dir, max_age_days=365)
    assert capsys.readouterr().out == ""  # check_knowledge only returns; run_check prints
    assert not [p for p in problems if p.severity == "error"], problems
    found = {(p.entry, p.file, p.line): p.message for p in problems}
    thin = found[("hours-working-time", "faq/hours.yaml", line_of(hours, "id: hours-working-time"))]
    assert f"只有 {MIN_EXAMPLES - 1} 种问法" in thin
    long = [m for (e, _, _), m in found.items() if e == "pay-withheld" and f"超过 {MAX_ANSWER_CHARS} 字" in m]
    assert long, "the long answer was not reported"
    confused = found[("heat-allowance", "faq/heat.yaml", stray)]
    assert "交的押金不给退" in confused and "pay-deposit" in confused and "得分" in confused


def test_review_age_is_measured_from_the_given_day():
    # entry_warnings alone: the same rule check_knowledge applies, without the slow leave-one-out.
    kb, _ = load_knowledge(KNOWLEDGE)
    reviewed = max(e.reviewed for e in kb.entries)
    assert not [p for p in entry_warnings(kb, 365, reviewed + dt.timedelta(days=365)) if "上次审核" in p.message]
    stale = [p for p in entry_warnings(kb, 365, reviewed + dt.timedelta(days=366)) if "上次审核" in p.message]
    assert stale and all(p.severity == "warning" and p.line and p.file.startswith("faq/") for p in stale)


# --- kb eval -----------------------------------------------------------------------------------

def test_eval_compares_three_methods_on_the_held_out_set(capsys):
    status, out = kb_eval(capsys, "--baselines")
    assert status == 0
    assert re.search(r"top-1 准确率：\d+\.\d%（\d+/\d+）", out)
    table = out[out.index("对比"):]
    for method in ("gigdesk", "TF-IDF", "BM25"):
        assert re.search(rf"^{method}.*\|\s+\d+\.\d% \|\s+\d+\.\d\d$", table, re.M), table
    assert "无关问题被直接回答：" in out and "答错" in out


def test_eval_is_a_regression_gate(capsys):
    assert kb_eval(capsys, "--threshold", "0.92")[0] == 0
    status, out = kb_eval(capsys, "--threshold", "1.01")
    assert status == 1 and "未通过" in out


def test_eval_without_baselines_imports_no_baseline_library():
    # The libraries are the optional `eval` extra: the plain gate must run without them.
    # (scikit-learn is not among them any more: the bot's own classifier uses it.)
    code = ("import sys; from knowledge.evaluate import run_eval; import io; "
            f"run_eval({str(KNOWLEDGE)!r}, {str(HELDOUT)!r}, out=io.StringIO()); "
            "print(sorted(m for m in ('jieba', 'rank_bm25') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert done.stdout.strip() == "[]"


def test_evaluate_counts_misses_confusions_and_confident_off_topic_answers(capsys):
    answers = {"工资被拖欠": Guess("pay-withheld", 90.0, "answer"),
               "押金不退": Guess("pay-withheld", 70.0, "answer"),
               "押金没退": Guess("pay-withheld", 50.0, "clarify"),
               "高温补贴": Guess("heat-allowance", 50.0, "clarify"),
               "今天天气": Guess("heat-allowance", 80.0, "answer"),
               "你好": Guess("", 0.0, "fallback")}
    questions = [Question("工资被拖欠", "pay-withheld"), Question("押金不退", "pay-deposit"),
                 Question("押金没退", "pay-deposit"), Question("高温补贴", "heat-allowance"),
                 Question("今天天气", "none"), Question("你好", "none")]
    result = evaluate(answers.__getitem__, questions)
    assert result.accuracy == 0.5
    assert result.answered_share(True) == 0.25 and result.answered_share(False) == 0.25
    assert [o.question.text for o in result.off_topic_answered] == ["今天天气"]
    assert [o.question.text for o in result.misses] == ["押金不退", "押金没退"]
    assert result.confusions() == [("pay-deposit", "pay-withheld", 2)]
    print_report(result, sys.stdout)
    out = capsys.readouterr().out
    assert "无关问题被直接回答：1/2" in out and "heat-allowance  80.0  今天天气" in out
    assert "pay-deposit -> pay-withheld  70.0  answer  押金不退" in out
    assert "pay-deposit -> pay-withheld：2" in out


def test_check_reports_a_broken_station_message(capsys, kb_dir):
    edit(kb_dir / "stations.yaml", "{% if services %}", "{% if services %")
    status, out = kb_check(capsys, kb_dir)
    assert status == 1, out
    assert any(m.startswith("stations.yaml 错误：消息 ") and "写错了" in m for m in out.splitlines()), out


def test_kb_check_warns_of_a_word_written_in_dialect_that_can_never_match(tmp_path):
    """Riders' dialect words are read as standard ones before matching (lexicon.yaml's
    dialect: 冇 -> 没), so a concept written 冇发工资 is dead; the check says what to write."""
    from knowledge.check import dialect_written_words
    kb_dir = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE, kb_dir)
    assert dialect_written_words(load_knowledge(kb_dir)[0], kb_dir) == []  # the shipped files are clean
    concepts = kb_dir / "concepts.yaml"
    text = concepts.read_text("utf-8")
    anchor = "  地点: [去哪,"
    concepts.write_text(text.replace(anchor, "  地点: [喺边度, 去哪,"), "utf-8")
    kb, _ = load_knowledge(kb_dir)
    problems = dialect_written_words(kb, kb_dir)
    assert [(p.file, p.line, p.severity) for p in problems] == \
        [("concepts.yaml", line_of(concepts, "喺边度"), "warning")]
    assert "「喺边度」" in problems[0].message and "请写成「在哪里」" in problems[0].message
