"""FAQ editing through the console API, on a copy of the knowledge folder: round-trip writes
that keep comments and every other entry byte for byte, refusals exactly as `gigdesk kb
check` reports them, the history and revert, roles, conflicts, hostile input, and riders
getting the changed answer through the real webhook and web chat at once."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bot.app import STORE, create_app
from bot.console.faq_editing import FAQ_EDITING, EditRefused
from knowledge import editor
from tests.conftest import send_text

pytestmark = pytest.mark.both_backends

KNOWLEDGE = Path(__file__).parent.parent / "knowledge"
DEPOSIT_QUESTION = "押金不给退怎么办"
NEW_ANSWER = "押金的事：先保存收据和转账记录，再书面要求退还。需要帮忙，拨打 {{ union_hotline }}。"
# Comments a staff member might write in the file by hand: on a key, inside a list, between
# entries. A console edit must leave all of them where they are.
COMMENTED_DEPOSIT = """  # ---- 押金：2026 年 11 月与法律援助中心核对过 ----
  - id: pay-deposit   # 编号定了就别改
    title: 押金、装备费不退怎么办    # 标题
    examples:
      # 最常见的问法放前面
      - 入职要交押金合法吗"""


def copy_knowledge(target: Path) -> Path:
    """The FAQ files only (the folder in the repository also holds the loader's Python)."""
    (target / "faq").mkdir(parents=True)
    for path in KNOWLEDGE.glob("*.yaml"):
        shutil.copy(path, target / path.name)
    for path in (KNOWLEDGE / "faq").glob("*.yaml"):
        shutil.copy(path, target / "faq" / path.name)
    pay = target / "faq" / "pay.yaml"
    text = pay.read_text("utf-8")
    start = text.index("  - id: pay-deposit")
    head = text[start:text.index("      - 入职要交押金合法吗", start) + len("      - 入职要交押金合法吗")]
    pay.write_text(text.replace(head, COMMENTED_DEPOSIT), "utf-8")
    return target


@pytest.fixture
def kb_dir(tmp_path) -> Path:
    return copy_knowledge(tmp_path / "knowledge")


@pytest.fixture
async def client(aiohttp_client, settings, kb_dir):
    # The watcher's own poll is effectively off: what a rider gets right after a save is
    # then proof that the save itself made the server load the change.
    return await aiohttp_client(create_app(settings.with_overrides(knowledge_dir=str(kb_dir),
                                                                   knowledge_poll_seconds=3600)))


@pytest.fixture
async def editor_console(console):
    return await console("wang", role="editor")


def entry_blocks(kb_dir: Path) -> dict[str, str]:
    """Every entry's exact text, by id."""
    blocks = {}
    for file in editor.faq_files(kb_dir):
        for block in editor.blocks_in(file, (kb_dir / file).read_text("utf-8")):
            blocks[block.entry_id] = block.text
    return blocks


async def open_entry(c, entry_id: str = "pay-deposit") -> dict:
    status, entry = await c.get(f"/api/faq/entries/{entry_id}")
    assert status == 200, entry
    return entry


# --- an edit round trip ----------------------------------------------------------------------

async def test_edit_keeps_comments_and_other_entries_and_riders_get_it_at_once(client, editor_console, kb_dir):
    pay = kb_dir / "faq" / "pay.yaml"
    before_file = pay.read_text("utf-8")
    before_blocks = entry_blocks(kb_dir)
    old_reply = await send_text(client, DEPOSIT_QUESTION, openid="o_before")
    assert "押金的事" not in old_reply

    entry = await open_entry(editor_console)
    assert entry["file"] == "faq/pay.yaml" and "编号定了就别改" in entry["yaml"]
    status, saved = await editor_console.post("/api/faq/entries/pay-deposit",
                                              {"version": entry["version"], "answer": NEW_ANSWER,
                                               "reviewed": "2026-12-01"})
    assert status == 200, saved
    after_file = pay.read_text("utf-8")
    assert COMMENTED_DEPOSIT in after_file  # the comments, on keys, in lists and between entries
    assert "押金的事：先保存收据" in after_file and "reviewed: 2026-12-01" in after_file
    after_blocks = entry_blocks(kb_dir)
    assert {k: v for k, v in after_blocks.items() if k != "pay-deposit"} == \
        {k: v for k, v in before_blocks.items() if k != "pay-deposit"}
    # Outside the entry, the file is the same bytes: only the entry's lines differ.
    old_block, new_block = before_blocks["pay-deposit"], after_blocks["pay-deposit"]
    assert before_file.replace(old_block, new_block) == after_file

    # The running server answers with the change now (the poll is off), on both channels.
    reply = await send_text(client, DEPOSIT_QUESTION, openid="o_after")
    assert "押金的事：先保存收据和转账记录" in reply and "12351" in reply and "依据：" in reply
    resp = await client.post("/chat/api/messages", json={"text": DEPOSIT_QUESTION})
    assert "押金的事：先保存收据和转账记录" in (await resp.json())["reply"]

    # History: who, what, before and after; and an audit entry like every console action.
    change = saved["change"]
    assert change["actor"] == "wang" and change["action"] == "edit" and change["entry_id"] == "pay-deposit"
    assert change["before"] == old_block and change["after"] == new_block
    status, listed = await editor_console.get("/api/faq/changes?entry=pay-deposit")
    assert [c["id"] for c in listed["changes"]] == [change["id"]] and listed["changes"][0]["can_revert"]
    audit = list(client.app[STORE].store.db["audit"].rows_where("action = 'faq_edit'"))
    assert audit and audit[0]["actor"] == "wang" and audit[0]["target"] == "faq:pay-deposit"
    assert json.loads(audit[0]["detail"])["change"] == change["id"]

    # Saving again from the version first opened is a conflict, not a silent overwrite.
    status, stale = await editor_console.post("/api/faq/entries/pay-deposit",
                                              {"version": entry["version"], "answer": "旧页面上的回答"})
    assert status == 409 and "被别人改过" in stale["error"]
    assert pay.read_text("utf-8") == after_file


@pytest.mark.parametrize("fields, reason", [
    ({"answer": ""}, "缺少必填项：answer"),
    ({"answer": "拨打 {{ union_hotlin }}"}, "用了不存在的变量"),
    # jinja2's own globals passed the plain-name rule, and riders received
    # "<function generate_lorem_ipsum at 0x…>" (found by the security review)
    ({"answer": "拨打 {{ lipsum }}"}, "用了不存在的变量"),
    ({"answer": "拨打 {{ range }}"}, "用了不存在的变量"),
    ({"answer": "拨打 {{ cycler }}"}, "用了不存在的变量"),
    ({"reviewed": "2026-13-01"}, "reviewed 必须是日期"),
    ({"sources": [{"title": "劳动合同法", "date": "去年"}]}, "缺少日期或日期格式不对"),
    ({"examples": ["工资被拖欠了怎么办"]}, "一句问法只能放在一条问答里"),  # pay-withheld has it
])
async def test_broken_edit_is_refused_with_kb_checks_reason_and_nothing_changes(
        client, editor_console, kb_dir, fields, reason):
    before = {p.name: p.read_bytes() for p in (kb_dir / "faq").glob("*.yaml")}
    entry = await open_entry(editor_console)
    status, body = await editor_console.post("/api/faq/entries/pay-deposit", {"version": entry["version"], **fields})
    assert status == 400, body
    assert any(reason in r for r in body["reasons"]), body
    assert any("faq/pay.yaml" in r for r in body["reasons"])  # where, as `kb check` says it
    assert {p.name: p.read_bytes() for p in (kb_dir / "faq").glob("*.yaml")} == before
    assert client.app[STORE].store.db["faq_changes"].count == 0


async def test_an_answer_template_expression_is_refused_before_anything_renders_it(client, editor_console, kb_dir):
    entry = await open_entry(editor_console)
    for answer in ("{{ ''.__class__.__mro__ }}", "{% for x in range(10) %}x{% endfor %}", "{{ union_hotline * 9 }}"):
        status, body = await editor_console.post("/api/faq/entries/pay-deposit",
                                                 {"version": entry["version"], "answer": answer})
        assert status == 400 and "只能写变量名" in body["error"], body
        status, body = await editor_console.post("/api/faq/preview", {"answer": answer})
        assert status == 400 and "只能写变量名" in body["error"], body


# --- history and revert ---------------------------------------------------------------------

async def test_revert_in_order_restores_the_exact_previous_file(client, editor_console, kb_dir):
    pay = kb_dir / "faq" / "pay.yaml"
    original = pay.read_bytes()
    entry = await open_entry(editor_console)
    status, first = await editor_console.post("/api/faq/entries/pay-deposit",
                                              {"version": entry["version"], "answer": NEW_ANSWER})
    assert status == 200, first
    status, second = await editor_console.post("/api/faq/entries/pay-deposit",
                                               {"version": first["entry"]["version"], "title": "押金不退怎么办"})
    assert status == 200, second
    after_both = pay.read_bytes()

    # The older change cannot be undone while the newer one stands.
    status, body = await editor_console.post(f"/api/faq/changes/{first['change']['id']}/revert")
    assert status == 409 and "先从最近的一次开始撤销" in body["error"]
    assert pay.read_bytes() == after_both

    status, undo_second = await editor_console.post(f"/api/faq/changes/{second['change']['id']}/revert")
    assert status == 200, undo_second
    assert undo_second["change"]["action"] == "revert" and undo_second["change"]["reverts"] == second["change"]["id"]
    status, undo_first = await editor_console.post(f"/api/faq/changes/{first['change']['id']}/revert")
    assert status == 200, undo_first
    assert pay.read_bytes() == original
    assert "押金的事" not in await send_text(client, DEPOSIT_QUESTION)

    status, change = await editor_console.get(f"/api/faq/changes/{first['change']['id']}")
    assert change["reverted_by"] == undo_first["change"]["id"] and not change["can_revert"]
    status, body = await editor_console.post(f"/api/faq/changes/{first['change']['id']}/revert")
    assert status == 409 and "已经撤销过" in body["error"]


async def test_revert_refuses_when_the_file_was_edited_by_hand_since(client, editor_console, kb_dir):
    entry = await open_entry(editor_console)
    status, saved = await editor_console.post("/api/faq/entries/pay-deposit",
                                              {"version": entry["version"], "answer": NEW_ANSWER})
    assert status == 200
    pay = kb_dir / "faq" / "pay.yaml"
    pay.write_text(pay.read_text("utf-8").replace("押金的事：", "关于押金："), "utf-8")
    by_hand = pay.read_bytes()
    status, body = await editor_console.post(f"/api/faq/changes/{saved['change']['id']}/revert")
    assert status == 409 and "手动修改" in body["error"]
    assert pay.read_bytes() == by_hand


# --- new entries and phrasings ------------------------------------------------------------

async def test_new_entry_from_unanswered_questions_is_answered_and_can_be_reverted(client, editor_console, kb_dir):
    question = "外卖箱被人偷了 站点让我自己赔"
    assert "外卖箱被偷" not in await send_text(client, question, openid="o_box")
    store = client.app[STORE].store
    ids = [r["id"] for r in store.db["unanswered"].rows_where("status = 'open'")]
    assert ids
    original = (kb_dir / "faq" / "pay.yaml").read_bytes()
    body = {"id": "pay-box-stolen", "file": "pay.yaml", "title": "外卖箱被偷了要自己赔吗",
            "examples": [question, "餐箱丢了站点让赔钱", "外卖箱被偷要我赔"],
            "answer": "外卖箱被偷：先报警留下回执，再和站点协商。需要帮忙，拨打 {{ union_hotline }}。",
            "sources": [{"title": "中华人民共和国劳动合同法", "article": "第九条", "date": "2012-12-28"}],
            "unanswered_ids": ids}
    status, created = await editor_console.post("/api/faq/entries", body)
    assert status == 201, created
    assert created["change"]["action"] == "create" and created["change"]["before"] == ""
    assert any("种问法" in w for w in created["warnings"])  # fewer than 8: a warning, not a refusal
    assert "外卖箱被偷：先报警" in await send_text(client, question, openid="o_box2")
    assert {r["status"] for r in store.db["unanswered"].rows_where("id IN (%s)" % ",".join(map(str, ids)))} == {"added"}

    status, again = await editor_console.post("/api/faq/entries", {**body, "unanswered_ids": []})
    assert status == 409 and "已经被" in again["error"]

    status, undone = await editor_console.post(f"/api/faq/changes/{created['change']['id']}/revert")
    assert status == 200, undone
    assert (kb_dir / "faq" / "pay.yaml").read_bytes() == original
    status, _ = await editor_console.get("/api/faq/entries/pay-box-stolen")
    assert status == 404


async def test_add_examples_through_the_service_makes_the_bot_answer_a_new_phrasing(client, kb_dir):
    phrasing = "站长说头盔和衣服钱要从工资里扣"
    store = client.app[STORE].store
    await send_text(client, phrasing, openid="o_new_1")
    assert store.rider_messages("wechat:o_new_1")[-1]["outcome"] != "answer"  # offered at most
    editing = client.app[FAQ_EDITING]
    row = await editing.add_examples("pay-deposit", [phrasing, "押金不退還怎麼辦", "  "], "li")
    assert row["id"] and row["actor"] == "li" and row["action"] == "add_examples"
    assert row["added"] == [phrasing]
    assert "押金不退還怎麼辦" in row["skipped"]  # already one of its phrasings
    assert phrasing not in row["before"] and f"- {phrasing}\n" in row["after"]
    assert "押金" in await send_text(client, phrasing, openid="o_new_2")
    assert store.rider_messages("wechat:o_new_2")[-1]["intent"] == "pay-deposit"

    nothing = await editing.add_examples("pay-deposit", [phrasing], "li")
    assert nothing["id"] is None and nothing["skipped"] == [phrasing]
    with pytest.raises(EditRefused):
        await editing.add_examples("no-such-entry", ["随便问问"], "li")
    with pytest.raises(EditRefused) as refused:  # another entry's phrasing: kb check's error
        await editing.add_examples("pay-deposit", ["工资被拖欠了怎么办"], "li")
    assert any("一句问法只能放在一条问答里" in r for r in refused.value.reasons)


# --- preview and try ------------------------------------------------------------------------

async def test_preview_renders_as_the_engine_does_and_splits_for_wechat(client, editor_console):
    status, body = await editor_console.post("/api/faq/preview", {
        "answer": "先保存证据。拨打 {{ union_hotline }}。",
        "sources": [{"title": "劳动合同法", "article": "第九条", "date": "2012-12-28"}, {"title": "条例", "date": "2020"}],
        "offers_case": True})
    assert status == 200, body
    assert body["text"].startswith("先保存证据。拨打 12351")
    assert "依据：《劳动合同法》第九条（2012-12-28）；《条例》（2020）" in body["text"]
    assert "登记" in body["text"] and body["wechat"] == [body["text"]] and "法律意见" in body["disclaimer"]

    long_answer = "\n".join(f"{i}. 这是一行很长的说明，骑手要按步骤一步一步来做，保存好各种证据。" for i in range(60))
    status, body = await editor_console.post("/api/faq/preview", {"answer": long_answer, "sources": [
        {"title": "劳动合同法", "date": "2012"}]})
    assert len(body["wechat"]) > 1
    assert all(len(part.encode("utf-8")) <= 2048 for part in body["wechat"])
    assert "更多" in body["wechat"][0] and body["wechat"][-1].endswith("（2012）")

    status, body = await editor_console.post("/api/faq/preview", {"answer": "x", "sources": [{"title": "法"}]})
    assert status == 200 and body["text"] is None and "日期" in body["problems"][0]


async def test_try_shows_ranked_candidates_and_the_decision(client, editor_console):
    status, body = await editor_console.post("/api/try", {"text": "押金不退咋整"})
    assert status == 200, body
    scores = [c["score"] for c in body["candidates"]]
    assert body["candidates"][0]["entry_id"] == "pay-deposit" and body["candidates"][0]["title"]
    assert scores == sorted(scores, reverse=True) and len(scores) > 1
    assert body["decision"] == body["outcome"] == "answer" and body["candidates"][0]["chosen"]
    assert body["normalised"] and body["thresholds"]["answer"] > body["thresholds"]["clarify"]

    status, body = await editor_console.post("/api/try", {"text": "明天股票会涨吗"})
    assert body["decision"] == "fallback"
    status, body = await editor_console.post("/api/try", {"text": "被车撞了流血了"})
    assert body["trigger"] == "emergency" and body["outcome"] == "emergency"


# --- who may, and hostile input ---------------------------------------------------------------

async def test_a_caseworker_gets_403_and_anonymous_is_refused(client, console, kb_dir):
    caseworker = await console("zhao", role="caseworker")
    admin = await console("boss", role="admin")
    before = (kb_dir / "faq" / "pay.yaml").read_bytes()
    entry = await open_entry(admin)
    for method, path, body in [("GET", "/api/faq/entries", None), ("GET", "/api/faq/entries/pay-deposit", None),
                               ("POST", "/api/faq/entries/pay-deposit", {"version": entry["version"], "answer": "x"}),
                               ("POST", "/api/faq/entries", {"id": "x-y", "file": "pay.yaml"}),
                               ("POST", "/api/faq/preview", {"answer": "x"}), ("GET", "/api/faq/changes", None),
                               ("POST", "/api/faq/changes/1/revert", {}), ("POST", "/api/try", {"text": "押金"}),
                               ("POST", "/api/faq/entries/pay-deposit/examples", {"texts": ["x"]})]:
        status, _ = await (caseworker.get(path) if method == "GET" else caseworker.post(path, body))
        assert status == 403, (method, path)
        resp = await client.request(method, path, json=body)
        assert resp.status == 401, (method, path)
    for page in ("/console/knowledge/entries/pay-deposit", "/console/knowledge/new", "/console/try"):
        async with caseworker.session.get(caseworker.base + page) as resp:
            assert resp.status == 403
        resp = await client.get(page, allow_redirects=False)
        assert resp.status == 302 and "/console/login" in resp.headers["Location"]
    assert (kb_dir / "faq" / "pay.yaml").read_bytes() == before
    status, _ = await admin.get("/api/faq/entries")
    assert status == 200  # an admin may edit the FAQ too


async def test_hostile_ids_and_bodies_get_a_clean_4xx(client, editor_console, kb_dir):
    before = {p.name: p.read_bytes() for p in (kb_dir / "faq").glob("*.yaml")}
    entry = await open_entry(editor_console)
    version = entry["version"]
    for path in ("/api/faq/entries/..%2F..%2Fetc%2Fpasswd", "/api/faq/entries/PAY", "/api/faq/entries/" + "a" * 300,
                 "/api/faq/entries/pay_deposit", "/api/faq/changes/abc", "/api/faq/changes/99999"):
        status, body = await editor_console.get(path)
        assert status == 404 and body["error"], path
    cases = [
        ("/api/faq/entries/pay-deposit", {"answer": "x"}, 400),  # no version
        ("/api/faq/entries/pay-deposit", {"version": version, "examples": "一句"}, 400),
        ("/api/faq/entries/pay-deposit", {"version": version, "examples": [{"x": 1}]}, 400),
        ("/api/faq/entries/pay-deposit", {"version": version, "answer": ["x"]}, 400),
        ("/api/faq/entries/pay-deposit", {"version": version, "sources": "法"}, 400),
        ("/api/faq/entries/pay-deposit", {"version": version, "sources": [["法"]]}, 400),
        ("/api/faq/entries/pay-deposit", {"version": version, "needs_human": "yes"}, 400),
        ("/api/faq/entries/pay-deposit", {"version": version, "answer": "长" * 6000}, 400),
        ("/api/faq/entries/no-such-entry", {"version": version, "answer": "x"}, 404),
        ("/api/faq/entries", {"id": "../pay", "file": "pay.yaml", "answer": "x"}, 400),
        ("/api/faq/entries", {"id": "new-entry", "file": "../../etc/passwd", "answer": "x"}, 400),
        ("/api/faq/entries", {"id": "new-entry", "file": "pay.yaml", "unanswered_ids": ["1; drop"]}, 400),
        ("/api/faq/entries", {"id": 5, "file": "pay.yaml"}, 400),
        ("/api/faq/entries/pay-deposit/examples", {"texts": "一句"}, 400),
        ("/api/try", {"text": ""}, 400),
        ("/api/try", {"text": "问" * 1000}, 413),
        ("/api/faq/changes/abc/revert", {}, 404),
        ("/api/faq/changes/424242/revert", {}, 404),
    ]
    for path, body, want in cases:
        status, answer = await editor_console.post(path, body)
        assert status == want and isinstance(answer.get("error"), str), (path, body, status, answer)
    # YAML-shaped text is only text: it lands in the file as a quoted phrasing, not as structure.
    status, saved = await editor_console.post("/api/faq/entries/pay-deposit", {
        "version": version, "title": "押金: {a: 1} # 不是注释\n- id: evil"})
    assert status == 200, saved
    assert saved["entry"]["fields"]["title"] == "押金: {a: 1} # 不是注释 - id: evil"
    assert "evil" not in entry_blocks(kb_dir) and len(entry_blocks(kb_dir)) == 52
    for name, data in before.items():
        if name != "pay.yaml":
            assert (kb_dir / "faq" / name).read_bytes() == data
    # Not JSON, or not an object.
    async with editor_console.session.post(editor_console.base + "/api/faq/entries/pay-deposit", data="{",
                                           headers={"X-CSRF-Token": editor_console.csrf,
                                                    "Content-Type": "application/json"}) as resp:
        assert resp.status == 400
    status, body = await editor_console.post("/api/faq/preview", {})
    assert status == 200 and body["text"] is None and "缺少必填项" in body["problems"][0]
