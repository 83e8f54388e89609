"""The dashboard's figures: riders write through the real signed webhook, caseworkers claim
and close through the console API, and history on chosen past dates goes through the real
engine with a chosen receive time. Then /api/stats and /api/stats.csv must give exact counts
per day and outcome, shares, top entries, handoff times, cases by kind and entries past
review, bucketed by the union's calendar day, and refuse what they should."""
from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import re
import shutil
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.app import ENGINE, STORE, create_app
from bot.conversation import Inbound
from storage import Store
from storage.stats import DayRange, summary
from tests.conftest import Console, add_user, send_text, signed_query, wechat_xml

SHANGHAI = ZoneInfo("Asia/Shanghai")
KNOWLEDGE = Path(__file__).resolve().parent.parent / "knowledge"
pytestmark = pytest.mark.both_backends
ANSWER, OTHER_ANSWER = "押金不给退怎么办", "工资被拖欠怎么办"  # pay-deposit, pay-withheld
CLARIFY = "众包的能不能进工会 我们又不算哪个公司的"  # unsure: a menu, union-who-can-join first
FALLBACK = "今天晚上吃什么好"


def today() -> dt.date:
    return dt.datetime.now(SHANGHAI).date()


def at(day: str, clock: str) -> float:
    """Epoch seconds of a Shanghai wall-clock time."""
    return dt.datetime.fromisoformat(f"{day}T{clock}").replace(tzinfo=SHANGHAI).timestamp()


async def engine_says(app, openid: str, text: str, when: float):
    """A rider's text through the real engine, received at `when` (the webhook uses now)."""
    store = app[STORE]
    return await store.run(app[ENGINE].handle, store.store, Inbound("wechat", openid, "text", when, text=text))


async def stats(console: Console, query: str = "") -> dict:
    status, data = await console.get("/api/stats" + query)
    assert status == 200, data
    return data


def day_of(data: dict, date: str) -> dict:
    return next(d for d in data["days"] if d["date"] == date)


# --- counts per day and outcome ------------------------------------------------------------------

async def test_counts_each_rider_message_once_by_outcome_with_shares_and_top_entries(client, console):
    for text in (ANSWER, OTHER_ANSWER, ANSWER):
        await send_text(client, text, openid="o_answers")
    assert "1." in await send_text(client, CLARIFY, openid="o_unsure")
    assert "入会" in await send_text(client, "1", openid="o_unsure")  # chosen: an answer, not a new question
    await send_text(client, FALLBACK, openid="o_offtopic")
    await send_text(client, "你好", openid="o_offtopic")
    await send_text(client, "转人工", openid="o_person")
    await send_text(client, "有人拿刀要砍我", openid="o_danger")
    resp = await client.post(signed_query(), data=wechat_xml("event_subscribe", openid="o_new").encode())
    assert resp.status == 200  # a follow is an event, not a message; its welcome is "other"

    staff = await console("王五", role="editor")  # any signed-in role may look
    data = await stats(staff)
    assert data["to"] == today().isoformat() and data["from"] == (today() - dt.timedelta(days=29)).isoformat()
    assert len(data["days"]) == 30 and data["timezone"] == "Asia/Shanghai"
    assert day_of(data, today().isoformat()) == {
        "date": today().isoformat(), "messages": 9, "answered": 3, "clarified": 1, "handoff": 1, "fallback": 1,
        "emergency": 1, "chosen": 1, "other": 2}
    assert data["totals"] == {"messages": 9, "answered": 3, "clarified": 1, "handoff": 1, "fallback": 1,
                              "emergency": 1, "chosen": 1, "other": 2, "questions": 7}
    assert data["shares"] == {"answered": round(3 / 7, 4), "clarified": round(1 / 7, 4),
                              "handoff": round(1 / 7, 4), "fallback": round(1 / 7, 4),
                              "emergency": round(1 / 7, 4)}
    kb = client.app[ENGINE].brain.kb
    assert data["top_entries"] == [
        {"id": "pay-deposit", "count": 2, "title": kb.entry("pay-deposit").title},
        {"id": "pay-withheld", "count": 1, "title": kb.entry("pay-withheld").title},
        {"id": "union-who-can-join", "count": 1, "title": kb.entry("union-who-can-join").title}]
    assert [g["id"] for g in data["groups"]] == ["answered", "clarified", "handoff", "fallback", "emergency"]


async def test_figures_hold_no_rider_text_or_identifiers(client, console):
    await send_text(client, "押金不给退怎么办 我叫张秘密 电话13912345678", openid="o_secret_rider")
    await send_text(client, "转人工", openid="o_secret_rider")
    staff = await console("李四")
    body = await (await staff.session.get(staff.base + "/api/stats")).text()
    csv_body = await (await staff.session.get(staff.base + "/api/stats.csv")).text()
    assert (await stats(staff))["totals"]["messages"] == 2  # the messages are counted ...
    for secret in ("张秘密", "13912345678", "o_secret_rider", "wechat:"):  # ... and nothing of them shown
        assert secret not in body and secret not in csv_body


# --- the union's calendar day ----------------------------------------------------------------------

async def test_a_day_is_the_unions_calendar_day_not_the_utc_day(client, console):
    # 23:30 in Shanghai is 15:30 UTC the same day; 00:30 and 07:30 the next morning are still the
    # previous day in UTC (16:30, 23:30): they must count for the Shanghai day they happened on.
    await engine_says(client.app, "o_night", ANSWER, at("2026-03-09", "23:30"))
    await engine_says(client.app, "o_night", OTHER_ANSWER, at("2026-03-10", "00:30"))
    await engine_says(client.app, "o_night", FALLBACK, at("2026-03-10", "07:30"))
    await engine_says(client.app, "o_night", ANSWER, at("2026-03-10", "23:59:59"))
    await engine_says(client.app, "o_night", ANSWER, at("2026-03-11", "00:00"))
    staff = await console("李四")
    data = await stats(staff, "?from=2026-03-09&to=2026-03-10")
    assert [(d["date"], d["messages"], d["answered"], d["fallback"]) for d in data["days"]] == [
        ("2026-03-09", 1, 1, 0), ("2026-03-10", 3, 2, 1)]
    one_day = await stats(staff, "?from=2026-03-10&to=2026-03-10")
    assert one_day["totals"]["messages"] == 3 and one_day["days"][0]["date"] == "2026-03-10"


def test_summer_time_days_are_bucketed_by_the_local_calendar(make_store):
    """Europe/Berlin goes from +01:00 to +02:00 at 01:00 UTC on 2026-03-29."""
    store = make_store()
    berlin = ZoneInfo("Europe/Berlin")

    def message(local: str) -> None:
        when = dt.datetime.fromisoformat(local).replace(tzinfo=berlin).timestamp()
        conversation = store.open_conversation(store.touch_rider("wechat", "o_b", when)["id"], when)
        store.add_message(conversation, "in", when, kind="text", text="x")

    for local in ("2026-03-28T23:30", "2026-03-29T00:30", "2026-03-29T03:30", "2026-03-29T23:30",
                  "2026-03-30T00:30"):
        message(local)
    days = DayRange.of(dt.date(2026, 3, 28), dt.date(2026, 3, 30), "Europe/Berlin")
    utc = [dt.datetime(2026, 3, d, h, tzinfo=dt.UTC).timestamp() for d, h in ((27, 23), (28, 23), (29, 22), (30, 22))]
    assert days.bounds == tuple(utc)  # the 29th is 23 hours long
    figures = store.dashboard(days, 0)
    assert [(d["date"], d["messages"]) for d in figures["days"]] == [
        ("2026-03-28", 1), ("2026-03-29", 3), ("2026-03-30", 1)]
    store.close()


# --- handoff waiting and handling times -------------------------------------------------------------

async def handed_off(app, openid: str, queued: float, waited: float, handled: float) -> None:
    """A rider asks for a person at `queued`; a caseworker claims and closes it later."""
    await engine_says(app, openid, "转人工", queued)
    store = app[STORE].store
    conversation = store.open_conversation(f"wechat:{openid}", queued)
    assert store.claim(conversation["id"], "李四", queued + waited)
    assert store.close_conversation(conversation["id"], queued + waited + handled)


async def test_wait_and_handling_times_median_and_90th_percentile(client, console):
    app = client.app
    for i, (waited, handled) in enumerate([(60, 300), (120, 900), (600, 1800), (30, 600)]):
        await handed_off(app, f"o_wait{i}", at("2026-05-06", "10:00"), waited, handled)
    staff = await console("李四")
    handoffs = (await stats(staff, "?from=2026-05-06&to=2026-05-06"))["handoffs"]
    # four values: the median is the mean of the middle two; the 90th percentile by nearest rank
    assert handoffs["wait"] == {"count": 4, "median": 90.0, "p90": 600.0}
    assert handoffs["handling"] == {"count": 4, "median": 750.0, "p90": 1800.0}
    assert (await stats(staff, "?from=2026-05-07&to=2026-05-08"))["handoffs"]["wait"] == \
        {"count": 0, "median": None, "p90": None}

    # today, through the webhook and the console: one claimed and closed, one released and then
    # ended by the rider from the queue (not handled by anyone), one still waiting
    for openid in ("o_live1", "o_live2", "o_live3"):
        await send_text(client, "转人工", openid=openid)
    ids = [app[STORE].store.open_conversation(f"wechat:{o}", 0)["id"] for o in ("o_live1", "o_live2")]
    for conversation_id in ids:
        assert (await staff.post(f"/api/conversations/{conversation_id}/claim"))[0] == 200
    assert (await staff.post(f"/api/conversations/{ids[0]}/close"))[0] == 200
    assert (await staff.post(f"/api/conversations/{ids[1]}/release"))[0] == 200
    assert "回到自动回答" in await send_text(client, "结束人工", openid="o_live2")
    live = (await stats(staff))["handoffs"]
    # each claim keeps its own wait (the claims table), so the released one's counts too
    assert live["wait"]["count"] == 2 and 0 <= live["wait"]["p90"] < 60
    assert live["handling"]["count"] == 1 and 0 <= live["handling"]["median"] < 60
    assert live["waiting_now"] == 1 and 0 <= live["longest_wait_now"] < 60


async def test_times_stay_exact_through_a_release_and_a_transfer(client, console):
    """Found by a new user: after a claim and a release the dashboard said nobody had been
    handed over. Each claim is its own row now."""
    app, queued = client.app, at("2026-05-06", "10:00")
    await engine_says(app, "o_moved", "转人工", queued)
    store = app[STORE].store
    cid = store.open_conversation("wechat:o_moved", queued)["id"]
    assert store.claim(cid, "李四", queued + 60)          # waited 60 s
    assert store.release(cid, "李四", queued + 160)       # held 100 s, back in the queue
    assert store.claim(cid, "王五", queued + 460)         # waited 300 s more
    assert store.reassign(cid, "王五", "李四", queued + 560)  # held 100 s; a transfer is no wait
    assert store.close_conversation(cid, queued + 760)     # held 200 s
    handoffs = (await stats(await console("李四"), "?from=2026-05-06&to=2026-05-06"))["handoffs"]
    assert handoffs["wait"] == {"count": 2, "median": 180.0, "p90": 300.0}
    assert handoffs["handling"] == {"count": 1, "median": 400.0, "p90": 400.0}


def test_summary_of_one_and_of_ten():
    assert summary([42.0]) == {"count": 1, "median": 42.0, "p90": 42.0}
    assert summary([float(v) for v in range(10, 0, -1)]) == {"count": 10, "median": 5.5, "p90": 9.0}


# --- cases by kind --------------------------------------------------------------------------------

async def report(client, openid: str, kind_number: str) -> None:
    for text in ("我要登记", kind_number, "美团", "北京", "昨天", "站长扣了我的钱", "跳过", "没有"):
        await send_text(client, text, openid=openid)


async def test_cases_opened_and_closed_by_kind(client, console):
    await report(client, "o_case_wages", "4")
    await report(client, "o_case_fine1", "5")
    await report(client, "o_case_fine2", "5")
    store = client.app[STORE].store
    fine = store.rider_cases("wechat:o_case_fine1")[0]
    # an old case, outside the range, and finished today: it counts as closed, not opened
    wages_conversation = store.open_conversation("wechat:o_case_wages", 0)["id"]
    old = store.create_case("wechat:o_case_wages", wages_conversation, {"kind": "injury"}, True,
                            at("2025-01-02", "09:00"))
    staff = await console("李四")
    for case_id in (fine["id"], old["id"]):
        status, body = await staff.post(f"/api/cases/{case_id}/status", {"status": "resolved", "note": "已处理"})
        assert status == 200, body
    kb = client.app[ENGINE].brain.kb
    cases = (await stats(staff))["cases"]
    assert cases == [
        {"kind": "fine", "title": kb.case_kind("fine").title, "opened": 2, "closed": 1},
        {"kind": "wages", "title": kb.case_kind("wages").title, "opened": 1, "closed": 0},
        {"kind": "injury", "title": kb.case_kind("injury").title, "opened": 0, "closed": 1}]
    assert (await stats(staff, "?from=2025-01-02&to=2025-01-02"))["cases"] == [
        {"kind": "injury", "title": kb.case_kind("injury").title, "opened": 1, "closed": 0}]


# --- entries past their review date, and the CSV -----------------------------------------------------

@pytest.fixture
async def aged_client(aiohttp_client, settings, tmp_path):
    """The app on a copy of the FAQ where one entry was last reviewed long ago (with a title an
    Excel formula could hide in) and one exactly a year ago, which is not yet overdue."""
    knowledge = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE, knowledge)
    pay = knowledge / "faq" / "pay.yaml"
    text = pay.read_text("utf-8")
    year_ago = (today() - dt.timedelta(days=365)).isoformat()
    head, deposit = text.split("- id: pay-deposit", 1)  # head: pay-withheld, the file's first entry
    deposit = re.sub(r"reviewed: [0-9-]+", "reviewed: 2020-01-01", deposit, count=1)
    deposit = re.sub(r"title: (\S+)", r"title: '=1+1 \1'", deposit, count=1)
    head = re.sub(r"reviewed: [0-9-]+", f"reviewed: {year_ago}", head, count=1)
    pay.write_text(head + "- id: pay-deposit" + deposit, "utf-8")
    return await aiohttp_client(create_app(dataclasses.replace(settings, knowledge_dir=str(knowledge))))


async def test_entries_past_review_come_from_the_running_knowledge(aged_client):
    add_user(aged_client.app, "王五", "editor")
    staff = Console(str(aged_client.make_url("")))
    try:
        assert await staff.log_in("王五") == 303
        kb = aged_client.app[ENGINE].brain.kb
        deposit = kb.entry("pay-deposit")
        assert deposit.reviewed == dt.date(2020, 1, 1) and deposit.title.startswith("=1+1")
        review = (await stats(staff))["review"]
        assert review == {"max_age_days": 365, "entries": [
            {"id": "pay-deposit", "title": deposit.title, "file": deposit.file, "reviewed": "2020-01-01",
             "age_days": (today() - dt.date(2020, 1, 1)).days}]}

        start = today() - dt.timedelta(days=60)
        await send_text(aged_client, ANSWER, openid="o_csv")
        async with staff.session.get(staff.base + f"/api/stats.csv?from={start}&to={today()}") as resp:
            assert resp.status == 200 and resp.content_type == "text/csv"
            assert resp.headers["Content-Disposition"] == \
                f'attachment; filename="gigdesk-stats-{start}_{today()}.csv"'
            raw = await resp.read()
    finally:
        await staff.close()
    assert raw.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs to read UTF-8
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0] == ["section", "date", "label", "value"]
    assert all(len(r) == 4 for r in rows)
    t = today().isoformat()
    assert ["messages", t, "骑手发来的消息", "1"] in rows
    assert ["outcome", t, "机器人直接回答", "1"] in rows
    assert ["outcome", start.isoformat(), "机器人直接回答", "0"] in rows
    assert len([r for r in rows if r[0] == "messages"]) == 61
    assert ["share", "", "机器人直接回答（占问题的百分比）", "100.0"] in rows
    # a title that starts like a formula is quoted, so Excel shows it as text
    assert ["top_entry", "", f"'{deposit.title}（pay-deposit）", "1"] in rows
    assert ["review_overdue", "2020-01-01", f"'{deposit.title}（pay-deposit）：距上次审核天数",
            str((today() - dt.date(2020, 1, 1)).days)] in rows
    assert ["handoff", "", "排队等待接手：次数", "0"] in rows
    assert ["handoff", "", "排队等待接手：中位数（分钟）", ""] in rows


# --- refusals ------------------------------------------------------------------------------------

@pytest.mark.parametrize("query, words", [
    ("?from=2026-13-01", "没有 2026-13-01 这一天"),
    ("?from=2026-02-30", "没有 2026-02-30 这一天"),
    ("?from=yesterday", "2026-11-21 这样"),
    ("?to=2026-1-5", "2026-11-21 这样"),
    ("?from=２０２６-01-01", "2026-11-21 这样"),
    ("?from=2026-01-01T00:00", "2026-11-21 这样"),
    ("?from=2026-03-10&to=2026-03-09", "结束日期不能早于开始日期"),
    ("?from=2025-01-01&to=2026-01-02", "一次最多看 366 天"),
    ("?from=1999-12-31&to=2000-01-01", "2000 年到 2100 年"),
])
async def test_bad_ranges_get_a_clear_400(client, console, query, words):
    staff = await console("李四")
    for path in ("/api/stats", "/api/stats.csv"):
        status, body = await staff.get(path + query)
        assert status == 400 and words in body["error"], (path, body)


async def test_a_full_leap_year_is_allowed(client, console):
    staff = await console("李四")
    data = await stats(staff, "?from=2028-01-01&to=2028-12-31")
    assert len(data["days"]) == 366 and data["days"][59]["date"] == "2028-02-29"


async def test_anonymous_visitors_are_refused(client):
    for path in ("/api/stats", "/api/stats.csv?from=2026-01-01"):
        resp = await client.get(path)
        assert resp.status == 401 and (await resp.json())["error"] == "请先登录"
    page = await client.get("/console/dashboard", allow_redirects=False)
    assert page.status == 302 and page.headers["Location"].startswith("/console/login?next=")


async def test_every_role_sees_the_page_with_strict_headers(client, console):
    for name, role in (("甲", "caseworker"), ("乙", "editor"), ("丙", "admin")):
        staff = await console(name, role=role)
        async with staff.session.get(staff.base + "/console/dashboard") as resp:
            assert resp.status == 200
            assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
            html = await resp.text()
        assert "/static/console/dashboard.js" in html and "<script>" not in html and "style=" not in html


# --- fast on a big database ----------------------------------------------------------------------

def test_every_query_reads_an_index_range_not_the_table(tmp_path):  # SQLite's plans
    store = Store(tmp_path / "g.db")
    statements: list[str] = []
    store.db.conn.set_trace_callback(statements.append)
    store.dashboard(DayRange.of(dt.date(2026, 1, 1), dt.date(2026, 12, 31), "Asia/Shanghai"), 0)
    store.db.conn.set_trace_callback(None)
    plans = {sql: " ".join(row[3] for row in store.db.execute("EXPLAIN QUERY PLAN " + sql))
             for sql in statements if sql.lstrip().upper().startswith("SELECT")}
    assert len(plans) == 365 * 2 + 5  # each day's messages and replies, then 3 for handoffs, 2 for cases
    for sql, plan in plans.items():
        if "FROM messages" in sql:
            assert "COVERING INDEX messages_dashboard" in plan, (sql, plan)
        elif "claimed_at >=" in sql or "closed_at >=" in sql:
            assert "SEARCH" in plan and "USING" in plan and "INDEX" in plan, (sql, plan)
        assert "SCAN messages" not in plan and "SCAN conversations" not in plan, (sql, plan)
    store.close()


def test_claims_are_filled_in_from_conversations_that_were_claimed_before_the_table(tmp_path):
    from sqlite_utils import Database

    from storage import Store
    from storage.schema import migrations

    old = Database(tmp_path / "old.db")
    migrations.apply(old, stop_before="m009_claims")
    old["riders"].insert({"id": "wechat:o1", "channel": "wechat", "openid": "o1", "first_seen_at": 0})
    rows = [  # closed by a person; held now; released back to the queue
        {"state": "closed", "assigned_to": "li", "waiting_since": 100.0, "claimed_at": 160.0, "closed_at": 400.0},
        {"state": "assigned", "assigned_to": "wang", "waiting_since": 100.0, "claimed_at": 130.0},
        {"state": "waiting", "assigned_to": None, "waiting_since": 500.0, "claimed_at": 200.0},
    ]
    for row in rows:
        old["conversations"].insert({"rider_id": "wechat:o1", "created_at": 0.0, "updated_at": 0.0, **row})
    old.close()
    store = Store(tmp_path / "old.db")
    claims = [(c["caseworker"], c["waited_from"], c["claimed_at"], c["ended_at"], c["ended_by"])
              for c in store.db["claims"].rows_where(order_by="conversation_id")]
    assert claims == [("li", 100.0, 160.0, 400.0, "closed"), ("wang", 100.0, 130.0, None, None),
                      ("?", None, 200.0, 500.0, "released")]
    store.close()
