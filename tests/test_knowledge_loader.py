"""The loader turns the FAQ files into frozen objects and explains every problem in Chinese."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from knowledge import load_knowledge

KNOWLEDGE = Path(__file__).parent.parent / "knowledge"


@pytest.fixture
def kb_dir(tmp_path) -> Path:
    target = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE, target)
    return target


def test_shipped_knowledge_loads_cleanly():
    kb, problems = load_knowledge(KNOWLEDGE)
    assert kb is not None, "\n".join(map(str, problems))
    assert len(kb.entries) >= 12
    for entry in kb.entries:
        assert entry.sources and all(s.date for s in entry.sources)
        assert "{{ union_hotline }}" in entry.answer or "12351" in entry.answer


def test_every_answer_ends_with_its_dated_sources():
    kb, _ = load_knowledge(KNOWLEDGE)
    entry = kb.entry("union-who-can-join")
    text = kb.render_answer(entry, {"union_hotline": "12351", "union_name": "工会"})
    assert text.splitlines()[-1].startswith("依据：") and "（2021-12-24）" in text


def test_yaml_error_names_file_and_line(kb_dir):
    (kb_dir / "faq" / "broken.yaml").write_text("entries:\n  - id: x\n    title: [unclosed\n", "utf-8")
    kb, problems = load_knowledge(kb_dir)
    assert kb is None
    assert any(p.file == "faq/broken.yaml" and p.line >= 3 and "YAML" in p.message for p in problems)


def test_missing_fields_and_bad_template_are_reported_per_entry(kb_dir):
    (kb_dir / "faq" / "extra.yaml").write_text(
        "entries:\n  - id: new-entry\n    title: 新问题\n    examples: [一个问法]\n"
        "    answer: '拨打 {{ hotline }}'\n    reviewed: 2026-01-01\n", "utf-8")
    kb, problems = load_knowledge(kb_dir)
    mine = [str(p) for p in problems if p.entry == "new-entry"]
    assert any("缺少必填项：sources" in m for m in mine)
    assert any("hotline" in m and "不存在的变量" in m for m in mine)
    assert all(m.startswith("faq/extra.yaml:2 ") for m in mine)


def test_duplicate_id_across_files(kb_dir):
    source = (kb_dir / "faq" / "union.yaml").read_text("utf-8")
    (kb_dir / "faq" / "zz-copy.yaml").write_text(source, "utf-8")
    kb, problems = load_knowledge(kb_dir)
    assert kb is None and any("id 重复" in p.message and p.file == "faq/zz-copy.yaml" for p in problems)


def test_an_answer_template_cannot_reach_python_internals():
    # Answers are edited in the console's browser form: a template must stay a template.
    from knowledge.loader import check_template
    from knowledge.model import compiled

    escape = "{{ ''.__class__.__mro__[1].__subclasses__() }}"
    assert "unsafe" in check_template(escape)
    with pytest.raises(Exception, match="unsafe"):
        compiled(escape).render({})
    assert check_template("请打 {{ union_hotline }}") is None
