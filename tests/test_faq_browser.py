"""FAQ editing in a real headless chromium against the real app on a loopback port, on a copy
of the knowledge folder: open an entry, change the answer, see the preview, save, see the
change in the history, revert it; a refused save shows why and keeps the text; a new entry
started from the unanswered-questions page; the try-it page."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import reply_content, signed_query, wechat_xml
from tests.test_console_browser import CHROMIUM, Desk, browser, desk, log_in, open_page  # noqa: F401 (fixtures)
from tests.test_faq_editor import copy_knowledge

pytestmark = [pytest.mark.both_backends,
              pytest.mark.skipif(not CHROMIUM.exists(), reason=f"browser tests need chromium at {CHROMIUM}")]
XSS = "<img src=x onerror=window.__xss=1>押金<script>window.__xss=1</script>"


@pytest.fixture
def settings(settings, tmp_path):
    """conftest's settings on a copy of the FAQ files, with the watcher's poll effectively off:
    a rider's answer right after a save proves the save made the server load it."""
    kb_dir = copy_knowledge(tmp_path / "knowledge")
    return settings.with_overrides(knowledge_dir=str(kb_dir), knowledge_poll_seconds=3600)


def pay_file(desk: Desk) -> Path:
    from bot.app import SETTINGS
    return Path(desk.app[SETTINGS].knowledge_dir) / "faq" / "pay.yaml"


async def rider_reply(desk: Desk, text: str, openid: str) -> str:
    """What the bot answers a rider through the real signed /wechat webhook."""
    xml = wechat_xml("text", openid=openid, content=text)
    async with desk.http.post(desk.base + signed_query(), data=xml.encode()) as resp:
        assert resp.status == 200
        return reply_content(await resp.text())


async def test_edit_preview_save_history_and_revert(desk, browser):
    from playwright.async_api import expect

    desk.add_user("wang", role="editor")
    original = pay_file(desk).read_bytes()
    context, page = await open_page(browser, desk)
    await log_in(page, desk, "wang", "/console/knowledge")
    await page.get_by_label("查找").fill("押金")
    await page.get_by_role("link", name="押金、装备费不退怎么办").click()
    await expect(page).to_have_url(desk.url("/console/knowledge/entries/pay-deposit"))

    answer = page.get_by_label(re.compile("^回答"))
    await expect(answer).to_have_value(re.compile("劳动合同法"))
    await expect(page.locator("#preview .bubble").first).to_contain_text("依据：《中华人民共和国劳动合同法》第九条")
    await answer.fill("先把押金收据拍照存好，再找站点书面要求退。\n需要帮忙，拨打 {{ union_hotline }}。")
    bubble = page.locator("#preview .bubble").first
    await expect(bubble).to_contain_text("先把押金收据拍照存好")
    await expect(bubble).to_contain_text("12351")  # the template rendered as the rider sees it
    await expect(bubble).to_contain_text("依据：")

    await page.get_by_role("button", name="保存").click()
    # The save answers once kb check passed and the new FAQ is serving: about a second on a quiet
    # machine, past the default 5 s on a loaded one (a CI run failed so). A bound, not a timing.
    await expect(page.locator("#status")).to_contain_text("已保存", timeout=90_000)
    assert "先把押金收据拍照存好" in pay_file(desk).read_text("utf-8")
    assert "先把押金收据拍照存好" in await rider_reply(desk, "押金不给退怎么办", "o_browser_1")

    change = page.locator("#history .change").first
    await expect(change).to_contain_text("wang 修改")
    await change.get_by_text("看改了什么").click()
    await expect(change.locator(".diff-add").first).to_contain_text("先把押金收据拍照存好")
    await expect(change.locator(".diff-del").first).to_contain_text("劳动合同法")

    await change.get_by_role("button", name="撤销这次修改").click()
    await change.get_by_role("button", name="确定撤销").click()
    await expect(page.locator("#status")).to_contain_text("已撤销", timeout=90_000)  # a save, as above
    await expect(answer).to_have_value(re.compile("劳动合同法"))
    await expect(page.locator("#history .change").first).to_contain_text("wang 撤销")
    assert pay_file(desk).read_bytes() == original
    assert "先把押金收据拍照存好" not in await rider_reply(desk, "押金不给退怎么办", "o_browser_2")
    assert desk.problems == []
    await context.close()


async def test_a_refused_save_shows_the_reason_and_keeps_the_text(desk, browser):
    from playwright.async_api import expect

    desk.add_user("wang", role="editor")
    original = pay_file(desk).read_bytes()
    context, page = await open_page(browser, desk, allowed={400})
    await log_in(page, desk, "wang", "/console/knowledge/entries/pay-deposit")
    answer = page.get_by_label(re.compile("^回答"))
    await expect(answer).to_have_value(re.compile("劳动合同法"))
    broken = "押金的事，拨打 {{ union_hotlin }}。这段我写了很久"
    await answer.fill(broken)
    await expect(page.locator("#preview-error")).to_contain_text("不存在的变量")
    await page.get_by_role("button", name="保存").click()
    refusal = page.locator("#refusal")
    await expect(refusal).to_be_visible()
    await expect(refusal).to_contain_text("不存在的变量")
    await expect(refusal).to_contain_text("faq/pay.yaml")
    await expect(answer).to_have_value(broken)
    assert pay_file(desk).read_bytes() == original
    assert [p for p in desk.problems if "/api/faq/" not in p] == []
    await context.close()


async def test_new_entry_from_unanswered_questions_prefills_and_creates(desk, browser):
    from playwright.async_api import expect

    desk.add_user("wang", role="editor")
    context, page = await open_page(browser, desk)
    await log_in(page, desk, "wang", "/console/knowledge")
    hint = {"examples": ["外卖箱被人偷了 站点让我自己赔", "餐箱丢了站点让赔钱"], "unanswered_ids": []}
    await page.evaluate("hint => sessionStorage.setItem('gigdesk:newEntry', JSON.stringify(hint))", hint)
    await page.goto(desk.url("/console/knowledge/new"))
    examples = page.get_by_label(re.compile("^骑手会怎么问"))
    await expect(examples).to_have_value("外卖箱被人偷了 站点让我自己赔\n餐箱丢了站点让赔钱")
    await page.get_by_label("放在哪个文件").select_option("faq/pay.yaml")
    await page.get_by_label("编号").fill("pay-box-stolen")
    await page.get_by_label(re.compile("^标题")).fill(XSS)
    await page.get_by_label(re.compile("^回答")).fill("外卖箱被偷：先报警留下回执，再和站点协商。拨打 {{ union_hotline }}。")
    await page.get_by_label("依据的文件名称").fill("中华人民共和国劳动合同法")
    await page.get_by_label("依据的日期").fill("2012-12-28")
    await page.get_by_role("button", name="创建问答").click()
    # The save returns once the new FAQ is serving, which refits the classifiers (a few seconds
    # on a loaded machine, over 20 s beside other work); bound like the other reload waits.
    await expect(page).to_have_url(desk.url("/console/knowledge/entries/pay-box-stolen?created=1"), timeout=90_000)
    await expect(page.locator("#entry-title")).to_contain_text("<img src=x")  # as text, not an image
    await expect(page.locator("#history .change").first).to_contain_text("wang 新建")
    assert await page.evaluate("sessionStorage.getItem('gigdesk:newEntry')") is None
    assert await page.evaluate("window.__xss") is None
    assert "外卖箱被偷：先报警" in await rider_reply(desk, "外卖箱被人偷了 站点让我自己赔", "o_box")
    assert desk.problems == []
    await context.close()


async def test_try_page_shows_ranked_candidates_and_the_decision(desk, browser):
    from playwright.async_api import expect

    desk.add_user("wang", role="editor")
    context, page = await open_page(browser, desk)
    await log_in(page, desk, "wang", "/console/try")
    await page.get_by_label("骑手的话").fill("押金不退咋整")
    await page.get_by_role("button", name="看看结果").click()
    candidates = page.locator("#try-candidates .candidate")
    await expect(candidates.first).to_contain_text("押金、装备费不退怎么办")
    assert await candidates.count() > 1
    scores = [float(re.search(r"([\d.]+) 分", t).group(1)) for t in await candidates.all_inner_texts()]
    assert scores == sorted(scores, reverse=True)
    await expect(page.locator("#try-decision")).to_contain_text("直接回答")
    width = await candidates.first.locator(".bar-fill").evaluate("e => e.style.width")
    assert width.endswith("%") and float(width[:-1]) == scores[0]  # 93.0 is drawn as "93%"

    await page.get_by_label("骑手的话").fill("被车撞了流血了")
    await page.get_by_role("button", name="看看结果").click()
    await expect(page.locator("#try-decision")).to_contain_text("120")
    assert desk.problems == []
    await context.close()


async def test_a_caseworker_cannot_open_the_faq_pages(desk, browser):
    desk.add_user("zhao")
    context, page = await open_page(browser, desk, allowed={403})
    await log_in(page, desk, "zhao")
    for path in ("/console/knowledge/entries/pay-deposit", "/console/knowledge/new", "/console/try"):
        response = await page.goto(desk.url(path))
        assert response.status == 403, path
    await context.close()

