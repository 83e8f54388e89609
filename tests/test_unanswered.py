"""The review of unanswered questions: grouping (pure), and the API against the real app,
with questions sent through the real signed /wechat webhook and a copy of the knowledge folder
for the FAQ files an editor adds to."""
from __future__ import annotations

import asyncio
import json
import shutil
import time
from pathlib import Path

import pytest

from bot.app import ENGINE, SETTINGS, STORE
from intents.grouping import Question, group_questions
from tests.conftest import send_text

KNOWLEDGE = Path(__file__).parent.parent / "knowledge"
pytestmark = pytest.mark.both_backends

# Questions this FAQ cannot answer (checked against the real matcher in the first API test).
BATTERY = ["电动车电池在哪里换便宜", "电动车电池哪里换便宜啊", "电动车的电池在哪换便宜"]
HELMET = "头盔丢了要赔钱吗"
# Asked often enough; the bot is unsure between the two station entries (where they are
# closest) and asks which was meant.
CHARGER = ["电动车的充电口在什么地方", "电动车充电口在什么地方"]


def q(i: int, text: str, at: float, outcome: str = "fallback", top: str | None = None,
      score: float | None = None) -> Question:
    return Question(i, text, text.rstrip("？?"), outcome, top, at, score)


# --- grouping, pure -------------------------------------------------------------------------

def test_near_identical_questions_form_one_group_and_an_unrelated_one_stays_apart():
    groups = group_questions([
        q(1, "外卖超时罚款怎么办", 100.0, top="fine-appeal"),
        q(2, "外卖超时被罚款怎么办？", 200.0, "clarify", top="fine-appeal"),
        q(3, "超时罚款怎么办啊", 300.0, top="courier-rights"),
        q(4, "电动车电池在哪里换便宜", 250.0),
        q(5, "外卖超时罚款怎么办", 150.0, top="fine-appeal"),
    ])
    assert [g.ids for g in groups] == [[1, 2, 3, 5], [4]]
    fines = groups[0]
    assert fines.count == 4 and fines.first_seen == 100.0 and fines.last_seen == 300.0
    # distinct texts, most recent first
    assert fines.examples == ["超时罚款怎么办啊", "外卖超时被罚款怎么办？", "外卖超时罚款怎么办"]
    assert fines.suggestion == "fine-appeal"
    assert fines.outcomes == {"fallback": 3, "clarify": 1}
    assert groups[1].suggestion is None and groups[1].examples == ["电动车电池在哪里换便宜"]


def test_only_close_enough_entries_count_as_the_suggestion():
    rows = [q(1, "附近哪里有充电桩", 1.0, "clarify", "station-find", 44.4),
            q(2, "附近哪有充电桩啊", 2.0, "fallback", "traffic-accident", 26.0),
            q(3, "附近哪里有充电桩", 3.0, "fallback", "traffic-accident", 25.0)]
    assert group_questions(rows)[0].suggestion == "traffic-accident"  # most common
    assert group_questions(rows, suggest_from=40.0)[0].suggestion == "station-find"
    assert group_questions(rows[1:], suggest_from=40.0)[0].suggestion is None


def test_same_shaped_but_different_questions_are_not_merged():
    groups = group_questions([q(1, "被狗咬了怎么办", 1.0), q(2, "被车撞了怎么办", 2.0),
                              q(3, "头盔丢了要赔钱吗", 3.0)])
    assert sorted(g.ids for g in groups) == [[1], [2], [3]]


def test_order_is_most_frequent_then_newest_or_newest_first():
    rows = [q(1, "电动车电池在哪里换便宜", 10.0), q(2, "电动车电池哪里换便宜啊", 20.0),
            q(3, "头盔丢了要赔钱吗", 30.0), q(4, "附近哪里有充电桩", 5.0)]
    assert [g.ids for g in group_questions(rows)] == [[1, 2], [3], [4]]
    assert [g.ids for g in group_questions(rows, sort="newest")] == [[3], [1, 2], [4]]
    with pytest.raises(ValueError):
        group_questions(rows, sort="random")


def test_a_group_shows_at_most_five_distinct_examples():
    rows = [q(i, "电动车电池在哪里换便宜" + "啊" * (i % 7), float(i)) for i in range(1, 30)]
    [group] = group_questions(rows)
    assert group.count == 29 and len(group.examples) == 5 and len(set(group.examples)) == 5
    assert group.examples[0] == rows[-1].text


# --- the API ----------------------------------------------------------------------------------

@pytest.fixture
def settings(settings, tmp_path):
    """The conftest settings, with a copy of the knowledge folder the editor may change."""
    target = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE, target)
    return settings.with_overrides(knowledge_dir=str(target), knowledge_poll_seconds=0.05)


def rows(client, where: str = "TRUE", args=()) -> list[dict]:
    return list(client.app[STORE].store.db.query(f"SELECT * FROM unanswered WHERE {where} ORDER BY id", list(args)))


async def ask(client, texts: list[str], prefix: str = "o_ask") -> None:
    for i, text in enumerate(texts):
        await send_text(client, text, openid=f"{prefix}_{i}")  # one rider each: no "misses" offers


def group_with(data: dict, text: str) -> dict:
    return next(g for g in data["groups"] if text in g["examples"])


async def test_questions_through_the_webhook_are_grouped_with_counts_and_times(client, console):
    await ask(client, [BATTERY[0], HELMET, BATTERY[1], BATTERY[2], BATTERY[0]])
    stored = rows(client)
    # The battery questions name nothing the FAQ covers; the lost helmet is offered the deposit entries.
    assert len(stored) == 5 and {(r["text"], r["outcome"]) for r in stored} == \
        {*((t, "fallback") for t in BATTERY), (HELMET, "clarify")}
    editor = await console("wang", role="editor")

    status, data = await editor.get("/api/unanswered")
    assert status == 200
    assert (data["open"], data["shown"], data["capped"], data["days"], data["sort"]) == (5, 5, False, 30, "frequent")
    assert [g["count"] for g in data["groups"]] == [4, 1]
    battery = data["groups"][0]
    ids = [r["id"] for r in stored if r["text"] in BATTERY]
    assert battery["ids"] == ids
    times = [r["created_at"] for r in stored if r["text"] in BATTERY]
    assert (battery["first_seen"], battery["last_seen"]) == (min(times), max(times))
    assert battery["examples"] == [BATTERY[0], BATTERY[2], BATTERY[1]]  # distinct, most recent first
    assert battery["outcomes"] == {"fallback": 4}
    # the matcher's nearest entry scored too low to be offered: no suggestion to mislead
    clarify = client.app[ENGINE].thresholds.clarify
    # (None: nothing was ranked at all, the classifier took it for off-topic)
    assert {r["top_score"] is None or r["top_score"] < clarify for r in stored if r["text"] in BATTERY} == {True}
    assert battery["suggestion"] is None
    assert data["groups"][1]["examples"] == [HELMET]
    titles = {e["id"]: e["title"] for e in data["entries"]}
    assert titles["fine-appeal"] == "被罚款、超时罚款怎么申诉"

    status, newest = await editor.get("/api/unanswered?sort=newest&days=7")
    assert status == 200 and [g["count"] for g in newest["groups"]] == [4, 1]  # the battery was asked last
    await ask(client, [HELMET], prefix="o_later")
    _, newest = await editor.get("/api/unanswered?sort=newest")
    assert [g["examples"][0] for g in newest["groups"]] == [HELMET, BATTERY[0]]


async def test_questions_outside_the_window_are_left_out(client, console):
    await ask(client, [HELMET])
    store = client.app[STORE].store
    store.db.execute("UPDATE unanswered SET created_at = ?", [time.time() - 10 * 86400])
    editor = await console("wang", role="editor")
    _, week = await editor.get("/api/unanswered?days=7")
    _, month = await editor.get("/api/unanswered?days=30")
    assert week["groups"] == [] and week["open"] == 0
    assert [g["examples"] for g in month["groups"]] == [[HELMET]]


async def test_suggestion_is_the_entry_the_matcher_came_closest_to(client, console):
    await ask(client, CHARGER)
    assert {r["outcome"] for r in rows(client)} == {"clarify"}
    editor = await console("wang", role="editor")
    _, data = await editor.get("/api/unanswered")
    [group] = data["groups"]
    assert group["suggestion"] == {"id": "station-find", "title": client.app[ENGINE].brain.kb.entry("station-find").title}
    assert group["outcomes"] == {"clarify": 2}


async def test_phone_numbers_are_masked_in_the_review(client, console):
    await ask(client, ["我的手机号13812345678换电池在哪里"])
    editor = await console("wang", role="editor")
    _, data = await editor.get("/api/unanswered")
    assert data["groups"][0]["examples"] == ["我的手机号138****5678换电池在哪里"]
    assert "13812345678" not in json.dumps(data, ensure_ascii=False)


async def test_dismiss_takes_the_group_out_and_records_who(client, console):
    await ask(client, BATTERY + [HELMET])
    editor = await console("wang", role="editor")
    _, data = await editor.get("/api/unanswered")
    battery = group_with(data, BATTERY[0])

    status, done = await editor.post("/api/unanswered/dismiss", {"ids": battery["ids"]})
    assert status == 200 and done == {"resolved": 3}
    _, data = await editor.get("/api/unanswered")
    assert [g["examples"] for g in data["groups"]] == [[HELMET]]
    dismissed = rows(client, "status = 'dismissed'")
    assert [r["id"] for r in dismissed] == battery["ids"]
    assert {(r["handled_by"], r["entry_id"]) for r in dismissed} == {("wang", None)}
    audit = client.app[STORE].store.audit_log()
    assert (audit[0]["actor"], audit[0]["action"], json.loads(audit[0]["detail"])) == (
        "wang", "unanswered_dismiss", {"questions": 3})

    # a second click (or a colleague's) changes nothing and is not an error
    assert await editor.post("/api/unanswered/dismiss", {"ids": battery["ids"]}) == (200, {"resolved": 0})
    assert [r["handled_by"] for r in rows(client, "status = 'dismissed'")] == ["wang"] * 3


def test_resolve_unanswered_only_touches_open_rows(make_store):
    store = make_store()
    for i in range(3):
        store.record_unanswered(i, "wechat:o", f"问题{i}", f"问题{i}", "fallback", None, None, 100.0 + i)
    assert store.resolve_unanswered([1], "dismissed", "li", 200.0) == 1
    assert store.resolve_unanswered([1, 2, 3], "added", "wang", 300.0, "station-find") == 2
    got = {r["id"]: (r["status"], r["handled_by"], r["handled_at"], r["entry_id"])
           for r in store.db.query("SELECT * FROM unanswered")}
    assert got == {1: ("dismissed", "li", 200.0, None), 2: ("added", "wang", 300.0, "station-find"),
                   3: ("added", "wang", 300.0, "station-find")}
    assert [r["id"] for r in store.open_unanswered(0.0)] == []
    with pytest.raises(ValueError):
        store.resolve_unanswered([1], "open", "li", 1.0)
    store.close()


# --- adding to an entry (through the FAQ editor's service) -----------------------------------

def knowledge_dir(client) -> Path:
    return Path(client.app[SETTINGS].knowledge_dir)


def entry_file(client, entry_id: str) -> Path:
    return knowledge_dir(client) / client.app[ENGINE].brain.kb.entry(entry_id).file


async def answered_by(client, text: str, entry_id: str, timeout: float = 10.0) -> bool:
    """Whether the bot answers `text` with `entry_id` once the edited files are reloaded."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        candidates = client.app[ENGINE].brain.rank(text)
        if candidates and candidates[0].entry_id == entry_id and text in client.app[ENGINE].brain.kb.entry(entry_id).examples:
            return True
        await asyncio.sleep(0.05)
    return False


async def test_add_puts_the_texts_into_the_entry_file_and_the_bot_then_answers(client, console):
    pytest.importorskip("bot.console.faq_editing")
    await ask(client, CHARGER + [CHARGER[0]])
    editor = await console("wang", role="editor")
    _, data = await editor.get("/api/unanswered")
    [group] = data["groups"]
    path = entry_file(client, "station-find")
    before = path.read_text("utf-8")
    assert CHARGER[0] not in before

    status, done = await editor.post("/api/unanswered/add", {"ids": group["ids"], "entry_id": "station-find",
                                                             "texts": CHARGER})
    assert status == 200, done
    assert (done["resolved"], done["entry_id"], done["texts"], done["added"]) == (3, "station-find", CHARGER, CHARGER)
    change_id = done["change_id"]
    assert isinstance(change_id, int)
    assert client.app[STORE].store.faq_change(change_id)["actor"] == "wang"
    after = path.read_text("utf-8")
    assert CHARGER[0] in after and CHARGER[1] in after
    added = rows(client, "status = 'added'")
    assert [r["id"] for r in added] == group["ids"]
    assert {(r["handled_by"], r["entry_id"]) for r in added} == {("wang", "station-find")}
    _, data = await editor.get("/api/unanswered")
    assert data["groups"] == []
    audit = client.app[STORE].store.audit_log()
    [entry] = [a for a in audit if a["action"] == "unanswered_add"]
    assert (entry["actor"], entry["target"], json.loads(entry["detail"])) == (
        "wang", "entry:station-find", {"questions": 3, "examples": 2, "change": change_id})

    assert await answered_by(client, CHARGER[1], "station-find")
    reply = await send_text(client, CHARGER[1], openid="o_after_add")
    assert "依据" in reply  # answered outright now, not "which did you mean"
    assert len(rows(client)) == 3  # and not recorded as unanswered again

    # the group is gone: adding it again is refused before the file is touched twice
    status, again = await editor.post("/api/unanswered/add", {"ids": group["ids"], "entry_id": "station-find",
                                                              "texts": CHARGER})
    assert status == 409 and "error" in again
    assert path.read_text("utf-8").count(CHARGER[0]) == 1


async def test_an_added_phone_number_goes_into_the_file_masked(client, console):
    pytest.importorskip("bot.console.faq_editing")
    await ask(client, ["我的手机号13812345678换电池在哪里"])
    editor = await console("wang", role="editor")
    _, data = await editor.get("/api/unanswered")
    [group] = data["groups"]
    status, done = await editor.post("/api/unanswered/add", {
        "ids": group["ids"], "entry_id": "station-find", "texts": ["手机13812345678附近哪里有充电桩"]})
    assert status == 200, done
    assert done["texts"] == ["手机138****5678附近哪里有充电桩"]
    text = entry_file(client, "station-find").read_text("utf-8")
    assert "手机138****5678附近哪里有充电桩" in text and "13812345678" not in text


async def test_a_refused_add_answers_422_with_reasons_and_marks_nothing(client, console):
    pytest.importorskip("bot.console.faq_editing")
    await ask(client, [HELMET])
    editor = await console("wang", role="editor")
    _, data = await editor.get("/api/unanswered")
    [group] = data["groups"]
    faq = knowledge_dir(client) / "faq"
    files = {p.name: p.read_text("utf-8") for p in faq.glob("*.yaml")}

    status, refused = await editor.post("/api/unanswered/add", {"ids": group["ids"], "entry_id": "no-such-entry",
                                                                "texts": [HELMET]})
    assert status == 422
    assert refused["error"] and isinstance(refused["reasons"], list) and refused["reasons"]
    assert all(isinstance(r, str) and r for r in refused["reasons"])
    assert [r["status"] for r in rows(client)] == ["open"]
    assert {p.name: p.read_text("utf-8") for p in faq.glob("*.yaml")} == files
    assert not any(a["action"] == "unanswered_add" for a in client.app[STORE].store.audit_log())


# --- who may, and hostile input ------------------------------------------------------------------

async def test_caseworkers_are_refused_and_anonymous_must_log_in(client, console):
    await ask(client, [HELMET])
    [row] = rows(client)
    li = await console("li", role="caseworker")
    assert (await li.get("/api/unanswered"))[0] == 403
    assert (await li.post("/api/unanswered/dismiss", {"ids": [row["id"]]}))[0] == 403
    assert (await li.post("/api/unanswered/add", {"ids": [row["id"]], "entry_id": "station-find",
                                                  "texts": [HELMET]}))[0] == 403
    async with li.session.get(li.base + "/console/unanswered", allow_redirects=False) as page:
        assert page.status == 403
    assert [r["status"] for r in rows(client)] == ["open"]

    resp = await client.get("/api/unanswered")
    assert resp.status == 401 and "error" in await resp.json()
    resp = await client.post("/api/unanswered/dismiss", json={"ids": [row["id"]]})
    assert resp.status == 401
    resp = await client.get("/console/unanswered", allow_redirects=False)
    assert resp.status == 302 and resp.headers["Location"].startswith("/console/login?next=")

    for role in ("editor", "admin"):
        someone = await console(f"staff_{role}", role=role)
        assert (await someone.get("/api/unanswered"))[0] == 200
        async with someone.session.get(someone.base + "/console/unanswered") as page:
            assert page.status == 200 and "没答上的问题" in await page.text()
            assert "script-src 'self'" in page.headers["Content-Security-Policy"]


async def test_a_write_without_the_csrf_token_is_refused(client, console):
    await ask(client, [HELMET])
    [row] = rows(client)
    editor = await console("wang", role="editor")
    status, body = await editor.post("/api/unanswered/dismiss", {"ids": [row["id"]]}, headers={"X-CSRF-Token": "x"})
    assert status == 403 and "error" in body
    status, _ = await editor.post("/api/unanswered/dismiss", {"ids": [row["id"]]},
                                  headers={"Origin": "https://evil.example"})
    assert status == 403
    assert [r["status"] for r in rows(client)] == ["open"]


@pytest.mark.parametrize("body, expected", [
    ({}, 400),
    ({"ids": "1"}, 400),
    ({"ids": []}, 400),
    ({"ids": ["1"]}, 400),
    ({"ids": [True]}, 400),
    ({"ids": [0]}, 400),
    ({"ids": [-5]}, 400),
    ({"ids": [1.5]}, 400),
    ({"ids": [2**70]}, 400),
    ({"ids": [None]}, 400),
    ({"ids": [[1]]}, 400),
    ({"ids": list(range(1, 3002))}, 413),
    ({"ids": [999999]}, 404),
])
async def test_hostile_dismiss_bodies_get_a_clean_4xx(client, console, body, expected):
    await ask(client, [HELMET])
    editor = await console("wang", role="editor")
    status, answer = await editor.post("/api/unanswered/dismiss", body)
    assert status == expected and isinstance(answer["error"], str) and answer["error"]
    assert [r["status"] for r in rows(client)] == ["open"]


@pytest.mark.parametrize("change, expected", [
    ({"entry_id": None}, 400),
    ({"entry_id": ""}, 400),
    ({"entry_id": ["station-find"]}, 400),
    ({"entry_id": "x" * 500}, 413),
    ({"texts": None}, 400),
    ({"texts": []}, 400),
    ({"texts": "附近哪里有充电桩"}, 400),
    ({"texts": [1]}, 400),
    ({"texts": ["   "]}, 400),
    ({"texts": ["长" * 201]}, 413),
    ({"texts": ["问"] * 21}, 413),
    ({"ids": [999999]}, 404),
])
async def test_hostile_add_bodies_get_a_clean_4xx(client, console, change, expected):
    await ask(client, [HELMET])
    [row] = rows(client)
    editor = await console("wang", role="editor")
    body = {"ids": [row["id"]], "entry_id": "station-find", "texts": [HELMET], **change}
    status, answer = await editor.post("/api/unanswered/add", body)
    assert status == expected and isinstance(answer["error"], str) and answer["error"]
    assert [r["status"] for r in rows(client)] == ["open"]


async def test_bodies_that_are_not_a_json_object_and_bad_queries_get_a_clean_4xx(client, console):
    editor = await console("wang", role="editor")
    url = editor.base + "/api/unanswered/dismiss"
    headers = {"X-CSRF-Token": editor.csrf}
    cases = [({"data": "ids=1", "headers": {**headers, "Content-Type": "application/x-www-form-urlencoded"}}, 415),
             ({"data": "{not json", "headers": {**headers, "Content-Type": "application/json"}}, 400),
             ({"data": "[1, 2]", "headers": {**headers, "Content-Type": "application/json"}}, 400),
             ({"data": b"\xff\xfe", "headers": {**headers, "Content-Type": "application/json"}}, 400),
             ({"data": '{"ids": [' + "1," * 40000 + "1]}", "headers": {**headers, "Content-Type": "application/json"}},
              413)]
    for kwargs, expected in cases:
        async with editor.session.post(url, **kwargs) as resp:
            assert resp.status == expected, (kwargs["data"][:20], resp.status)
            assert "error" in await resp.json()
    for query in ("days=abc", "days=0", "days=9999", "days=-1", "days=３０", "sort=random", "sort=<script>"):
        status, answer = await editor.get("/api/unanswered?" + query)
        assert status == 400 and answer["error"], query
