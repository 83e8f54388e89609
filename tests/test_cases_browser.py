"""The case list and a case's page in headless chromium: a rider's help request recorded
through the real webhook, found with a filter, its story shown as text, and a status change
whose notice reaches the fake WeChat API."""
from __future__ import annotations

from tests.test_console_browser import CHROMIUM, browser, desk, log_in, open_page, pytestmark  # noqa: F401

STORY = "<img src=x onerror=window.__xss=1>站长扣了我三百"


async def report(desk, openid: str, city: str) -> None:
    for text in ("我要登记", "5", "美团", city, "昨天", STORY, "跳过", "没有"):
        await desk.rider_says(text, openid)


async def test_case_list_filter_and_status_change_with_notice(desk, browser):
    from playwright.async_api import expect

    desk.add_user("李四")
    await report(desk, "o_b_case1", "北京")
    await report(desk, "o_b_case2", "上海")
    context, page = await open_page(browser, desk)
    await log_in(page, desk, "李四", "/console/cases")
    rows = page.locator("#case-rows tr")
    await expect(rows).to_have_count(2)
    await page.locator("select[name=city]").select_option("北京")
    await expect(rows).to_have_count(1)
    await expect(page.locator("#export")).to_have_attribute("href", "/api/cases.csv?city=%E5%8C%97%E4%BA%AC")
    await page.reload()  # the filter is in the address bar: a bookmark opens the list filtered
    await expect(rows).to_have_count(1)
    await expect(page.locator("select[name=city]")).to_have_value("北京")
    await expect(page.locator("select[name=city] option[value='北京']")).to_have_count(1)

    await rows.first.get_by_role("link").click()
    await expect(page.locator("#answers")).to_contain_text(STORY)  # shown as text, not run
    assert await page.evaluate("window.__xss") is None
    await page.locator("#new-status").select_option("accepted")
    await page.locator("#notify").check()
    await expect(page.locator("#notice")).to_have_value(__import__("re").compile("已受理"))
    await page.get_by_role("button", name="保存状态").click()
    # the note is required: the browser holds the form back and nothing is sent
    assert await page.evaluate("document.getElementById('status-note').validity.valueMissing") is True
    assert desk.wechat.sent == []
    await page.locator("#status-note").fill("已联系站长核实")
    await page.get_by_role("button", name="保存状态").click()
    await expect(page.locator("#events")).to_contain_text("已联系站长核实")
    sent = await desk.wechat.wait_for_sent(1)
    assert sent[0]["body"]["touser"] == "o_b_case1" and "已受理" in sent[0]["body"]["text"]["content"]
    assert not [p for p in desk.problems if not p.startswith("400 ")], desk.problems
    await context.close()
