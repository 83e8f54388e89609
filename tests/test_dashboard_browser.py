"""The dashboard in a real headless chromium against the real app on a loopback port: riders
write through the signed WeChat webhook (and, for past days, through the real engine with a
chosen receive time); the page must draw what /api/stats says, follow the date range in the
address bar and the CSV link, and say plainly when a range is wrong or empty."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from bot.app import ENGINE
from bot.conversation import Inbound
from tests.test_console_browser import CHROMIUM, browser, desk, log_in, open_page, pytestmark  # noqa: F401

SHANGHAI = ZoneInfo("Asia/Shanghai")
ANSWER, OTHER_ANSWER, FALLBACK = "押金不给退怎么办", "工资被拖欠怎么办", "今天晚上吃什么好"
STACKED = ("answered", "clarified", "handoff", "fallback", "emergency")


async def engine_says(desk, openid: str, text: str, day: str, clock: str) -> None:
    when = dt.datetime.fromisoformat(f"{day}T{clock}").replace(tzinfo=SHANGHAI).timestamp()
    await desk.db(desk.app[ENGINE].handle, Inbound("wechat", openid, "text", when, text=text))


def bars_expected(data: dict) -> int:
    """One rect per day and outcome with a count; chosen and other share the grey segment."""
    return sum(1 for d in data["days"] for k in STACKED if d[k]) + \
        sum(1 for d in data["days"] if d["other"] + d["chosen"])


async def api_stats(page, query: str = "") -> dict:
    return await page.evaluate("q => fetch('/api/stats' + q).then(r => r.json())", query)


async def test_dashboard_draws_the_figures_and_follows_the_range(desk, browser):
    from playwright.async_api import expect

    desk.add_user("王五", "editor")
    for text, openid in ((ANSWER, "o_a"), (ANSWER, "o_b"), (OTHER_ANSWER, "o_c"), (FALLBACK, "o_d"),
                         ("转人工", "o_e"), ("你好", "o_d")):
        await desk.rider_says(text, openid)
    await engine_says(desk, "o_past", ANSWER, "2026-03-09", "23:30")
    await engine_says(desk, "o_past", FALLBACK, "2026-03-10", "00:30")
    await engine_says(desk, "o_past", "有人拿刀要砍我", "2026-03-10", "09:00")

    context, page = await open_page(browser, desk, allowed={400})
    await log_in(page, desk, "王五", "/console/dashboard")
    await expect(page.locator("#results")).to_be_visible()
    data = await api_stats(page)
    today = dt.datetime.now(SHANGHAI).date().isoformat()
    assert data["to"] == today and data["totals"]["messages"] == 6

    # the stacked bars, the messages line and the table show the API's numbers
    await expect(page.locator("#outcome-chart rect.bar")).to_have_count(bars_expected(data))
    await expect(page.locator("#outcome-chart circle.messages-dot")).to_have_count(30)
    await expect(page.locator("#outcome-chart svg")).to_have_attribute(
        "aria-label", f"每天骑手发来的消息和机器人的处理结果，{data['from']} 到 {today}：共 6 条消息，5 个问题")
    month, day = int(today[5:7]), int(today[8:10])
    await expect(page.locator("#outcome-chart rect.g-answered title")).to_have_text(
        f"{month}月{day}日 机器人直接回答：3")
    await expect(page.locator("#outcome-rows tr")).to_have_count(30)
    await expect(page.locator("#outcome-rows tr").last.locator("td")).to_have_text(
        [today, "6", "3", "0", "1", "1", "0", "1"])
    await expect(page.locator("#figures")).to_contain_text("机器人直接回答60%（3）")

    # top entries as horizontal bars and a table
    kb = desk.app[ENGINE].brain.kb
    await expect(page.locator("#top-chart rect.bar")).to_have_count(2)
    await expect(page.locator("#top-rows tr")).to_have_count(2)
    await expect(page.locator("#top-rows tr").first.locator("td")).to_have_text([kb.entry("pay-deposit").title, "2"])
    # two riders wait now (today's 转人工 and March's emergency, whatever the range);
    # nobody was claimed yet; no cases; no entry past review
    await expect(page.locator("#handoffs .waiting-now dd").first).to_have_text("2")
    await expect(page.locator("#handoffs .wait")).to_contain_text("这段时间没有人接手会话")
    await expect(page.locator("#cases-empty")).to_be_visible()
    await expect(page.locator("#review-empty")).to_have_text("所有问答都在审核期内。")
    await expect(page.locator("#csv")).to_have_attribute("href", f"/api/stats.csv?from={data['from']}&to={today}")

    # a new range refetches, goes into the address bar and the CSV link
    await page.locator("#range input[name=from]").fill("2026-03-09")
    await page.locator("#range input[name=to]").fill("2026-03-10")
    await expect(page).to_have_url(desk.url("/console/dashboard?from=2026-03-09&to=2026-03-10"))
    await expect(page.locator("#outcome-rows tr")).to_have_count(2)
    past = await api_stats(page, "?from=2026-03-09&to=2026-03-10")
    assert [d["messages"] for d in past["days"]] == [1, 2]  # 00:30 Shanghai is the 10th, not the UTC 9th
    await expect(page.locator("#outcome-chart rect.bar")).to_have_count(bars_expected(past))
    await expect(page.locator("#outcome-chart rect.g-emergency title")).to_have_text("3月10日 紧急求助：1")
    await expect(page.locator("#csv")).to_have_attribute("href", "/api/stats.csv?from=2026-03-09&to=2026-03-10")
    await expect(page.locator("#top-rows tr")).to_have_count(1)

    # a bookmarked range opens as it was
    await page.reload()
    await expect(page.locator("#range input[name=from]")).to_have_value("2026-03-09")
    await expect(page.locator("#range input[name=to]")).to_have_value("2026-03-10")
    await expect(page.locator("#outcome-rows tr")).to_have_count(2)

    # a wrong range is said plainly, and the old numbers do not stay on screen
    await page.locator("#range input[name=to]").fill("2026-03-01")
    await expect(page.locator("#status")).to_have_text("结束日期不能早于开始日期")
    await expect(page.locator("#results")).to_be_hidden()
    await expect(page.locator("#csv")).to_be_hidden()

    # an empty range has plain empty states
    await page.locator("#range input[name=from]").fill("2025-01-01")
    await page.locator("#range input[name=to]").fill("2025-01-05")
    await expect(page.locator("#outcomes-empty")).to_have_text("这段时间没有骑手发来消息。")
    await expect(page.locator("#outcome-chart")).to_be_hidden()
    await expect(page.locator("#top-empty")).to_be_visible()
    await expect(page.locator("#top-table")).to_be_hidden()
    await expect(page.locator("#outcome-chart rect.bar")).to_have_count(0)
    await expect(page.locator("#status")).to_have_text("")
    assert desk.problems == [] or all(p.startswith("400 ") for p in desk.problems), desk.problems
    await context.close()


async def test_cases_chart_and_handoff_times(desk, browser):
    from playwright.async_api import expect

    desk.add_user("李四")
    for openid in ("o_case1", "o_case2"):
        for text in ("我要登记", "5", "美团", "北京", "昨天", "站长扣了我的钱", "跳过", "没有"):
            await desk.rider_says(text, openid)
    await desk.rider_says("转人工", "o_wait")

    def claim_and_close(store) -> float:
        conversation = store.open_conversation("wechat:o_wait", 0)
        now = conversation["waiting_since"]
        assert store.claim(conversation["id"], "李四", now + 125)  # waited 2 minutes 5 seconds
        assert store.close_conversation(conversation["id"], now + 125 + 3600)  # handled an hour
        return now + 125 + 3600
    closed_at = await desk.db(claim_and_close)

    context, page = await open_page(browser, desk)
    await log_in(page, desk, "李四", "/console/dashboard")
    # Run after 23:00 Shanghai time, the hour of handling ends tomorrow, past the default range
    # (which ends today): the range then ends on the day it closed.
    closed_on = dt.datetime.fromtimestamp(closed_at, SHANGHAI).date()
    if closed_on != dt.datetime.now(SHANGHAI).date():
        await page.locator("#range input[name=to]").fill(closed_on.isoformat())
    kind = desk.app[ENGINE].brain.kb.case_kind("fine").title
    await expect(page.locator("#cases-rows tr")).to_have_count(1)
    await expect(page.locator("#cases-rows tr td")).to_have_text([kind, "2", "0"])
    await expect(page.locator("#cases-chart rect.bar")).to_have_count(2)  # opened and closed
    await expect(page.locator("#cases-chart rect.c-opened title")).to_have_text(f"{kind} 新登记：2")
    await expect(page.locator("#handoffs .wait dd")).to_have_text(["1", "2 分钟", "2 分钟"])
    await expect(page.locator("#handoffs .handling dd")).to_have_text(["1", "1 小时 0 分钟", "1 小时 0 分钟"])
    await expect(page.locator("#handoffs .waiting-now dd")).to_have_text(["0"])
    assert desk.problems == []
    await context.close()
