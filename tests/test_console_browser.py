"""The caseworker console in a real headless chromium against the real app on a loopback port:
riders write through the real (signed) WeChat webhook, replies go out through the real outbox
to the fake WeChat API, and the pages are driven like a caseworker would."""
from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest

from bot.app import STORE, create_app
from bot.console.auth import hash_password
from tests.conftest import FakeWeChat, signed_query, wechat_xml

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
pytestmark = [pytest.mark.both_backends, pytest.mark.skipif(not CHROMIUM.exists(),
                                reason=f"browser tests need chromium at {CHROMIUM} (CI installs it)")]

PASSWORD = "shift-password-2024"
HANDOFF = "转人工"
URGENT = "有人拿刀要砍我"
XSS = "<img src=x onerror=window.__xss=1> and <script>window.__xss=1</script>"
GREETING = "你好，我是工会的工作人员，刚看到你的消息。"  # knowledge/canned.yaml: 接手问候

# Records what the alarm's beep does, since headless chromium has no speakers.
FAKE_AUDIO = """
window.__beeps = 0;
window.AudioContext = class {
  constructor() { this.state = "running"; this.currentTime = 0; this.destination = {}; }
  resume() { return Promise.resolve(); }
  createGain() { return {gain: {setValueAtTime() {}}, connect() {}}; }
  createOscillator() {
    return {type: "", frequency: {value: 0}, connect() {}, start() { window.__beeps += 1; }, stop() {}};
  }
};
"""


@dataclass
class Desk:
    """The running app, its address, and a way for riders to write to it."""
    app: object
    base: str
    wechat: FakeWeChat
    http: aiohttp.ClientSession
    problems: list[str] = field(default_factory=list)

    def add_user(self, name: str, role: str = "caseworker") -> None:
        self.app[STORE].store.add_user(name, role, hash_password(PASSWORD), time.time())

    async def rider_says(self, text: str, openid: str, kind: str = "text") -> None:
        """A signed message (tests/data/wechat/<kind>.xml) exactly as WeChat posts it to /wechat."""
        xml = wechat_xml(kind, openid=openid, content=text)
        async with self.http.post(self.base + signed_query(), data=xml.encode()) as resp:
            assert resp.status == 200, await resp.text()

    async def db(self, fn, *args):
        """Run fn(store, *args) on the app's own database thread."""
        store = self.app[STORE]
        return await store.run(fn, store.store, *args)

    async def conversation_of(self, openid: str) -> int:
        rows = await self.db(lambda store: list(store.db.query(
            "SELECT id FROM conversations WHERE rider_id = ? ORDER BY id DESC LIMIT 1", [f"wechat:{openid}"])))
        return rows[0]["id"]

    def url(self, path: str) -> str:
        return self.base + path


@pytest.fixture
async def desk(aiohttp_server, settings, fake_wechat):
    app = create_app(settings)
    server = await aiohttp_server(app, host="127.0.0.1", port=0)
    async with aiohttp.ClientSession() as http:
        yield Desk(app, str(server.make_url("")).rstrip("/"), fake_wechat, http)


@pytest.fixture
async def browser(desk):  # after desk, so the browser closes before the server stops
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            await browser.close()


async def open_page(browser, desk: Desk, width: int = 1280, height: int = 800, allowed=()):
    """A fresh browser profile; page errors, console errors and refused requests are recorded
    in desk.problems, except responses whose status is in `allowed`."""
    context = await browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN")
    context.set_default_timeout(10_000)
    await context.add_init_script(FAKE_AUDIO)
    page = await context.new_page()
    page.on("pageerror", lambda e: desk.problems.append(f"page error: {e}"))

    def console(message) -> None:
        where = message.location.get("url", "")
        if message.type == "error" and not where.endswith("/favicon.ico") and "Failed to load resource" not in message.text:
            desk.problems.append(f"console: {message.text} at {where}")

    page.on("console", console)
    page.on("response", lambda r: desk.problems.append(f"{r.status} {r.url}")
            if r.status >= 400 and r.status not in allowed and not r.url.endswith("/favicon.ico") else None)
    return context, page


async def log_in(page, desk: Desk, name: str, path: str = "/console/queue") -> None:
    from playwright.async_api import expect

    await page.goto(desk.url(path))
    await expect(page).to_have_url(re.compile(r"/console/login\?next="))
    await page.get_by_label("用户名").fill(name)
    await page.get_by_label("密码").fill(PASSWORD)
    await page.get_by_role("button", name="登录").click()
    await expect(page).to_have_url(desk.url(path))


def waiting_rows(page):
    return page.locator("#waiting .row")


# --- log-in -----------------------------------------------------------------------------------

async def test_login_form_refuses_a_wrong_password_then_lets_the_right_one_in(desk, browser):
    from playwright.async_api import expect

    desk.add_user("张三")
    context, page = await open_page(browser, desk, allowed={401})
    await page.goto(desk.url("/console/queue"))
    await expect(page).to_have_url(re.compile(r"/console/login\?next=(/|%2F)console(/|%2F)queue$"))

    await page.get_by_label("用户名").fill("张三")
    await page.get_by_label("密码").fill("not-the-password")
    await page.get_by_role("button", name="登录").click()
    await expect(page.get_by_role("alert")).to_have_text("用户名或密码不对")
    await expect(page).to_have_url(re.compile(r"/console/login"))

    await page.get_by_label("用户名").fill("张三")
    await page.get_by_label("密码").fill(PASSWORD)
    await page.get_by_role("button", name="登录").click()
    await expect(page).to_have_url(desk.url("/console/queue"))
    await expect(page.get_by_role("heading", name="排队会话")).to_be_visible()
    await expect(page.locator("#waiting-empty")).to_have_text("现在没有人在等。")
    assert desk.problems == []
    await context.close()


# --- the queue --------------------------------------------------------------------------------

async def test_queue_lists_a_rider_asking_for_a_person_and_updates_live(desk, browser):
    from playwright.async_api import expect

    desk.add_user("张三")
    await desk.rider_says(HANDOFF, openid="o_rider_alpha")
    first = await desk.conversation_of("o_rider_alpha")
    context, page = await open_page(browser, desk)
    await log_in(page, desk, "张三")

    row = waiting_rows(page)
    await expect(row).to_have_count(1)
    await expect(row.locator(".reason")).to_have_text("要求人工")
    await expect(row.locator(".rider")).to_have_text("微信用户 …_alpha")
    await expect(row.locator(".channel")).to_have_text("微信")
    await expect(row.locator(".wait")).to_have_text("刚开始等")
    await expect(row.locator(".preview")).to_have_text(HANDOFF)
    await expect(row.locator("a.open")).to_have_attribute("href", f"/console/conversations/{first}")
    await expect(row.get_by_role("button", name="接手")).to_be_visible()
    await expect(page.locator("#live")).to_have_text("● 实时更新")

    # a second rider asks for a person: the open page shows it without a reload or the 30 s poll
    await page.evaluate("window.__same_page = true")
    await desk.rider_says("我要找人工", openid="o_rider_bravo")
    await expect(waiting_rows(page)).to_have_count(2)
    await expect(waiting_rows(page).nth(1).locator(".rider")).to_have_text("微信用户 …_bravo")
    assert await page.evaluate("window.__same_page") is True
    await expect(page.locator("#waiting-count")).to_have_text("（2）")
    assert desk.problems == []
    await context.close()


async def test_urgent_message_raises_the_alarm_until_someone_takes_it(desk, browser):
    from playwright.async_api import expect

    desk.add_user("张三")
    await desk.rider_says(HANDOFF, openid="o_rider_calm")
    context, page = await open_page(browser, desk)
    await log_in(page, desk, "张三")
    await expect(waiting_rows(page)).to_have_count(1)
    alarm = page.locator("#alarm")
    await expect(alarm).to_be_hidden()
    assert not (await page.title()).startswith("【紧急】")
    assert await page.evaluate("window.__beeps") == 0

    await desk.rider_says(URGENT, openid="o_rider_knife")
    urgent = await desk.conversation_of("o_rider_knife")
    await expect(alarm).to_be_visible()
    await expect(alarm).to_have_text(f"有紧急求助等待接手：会话 #{urgent}")
    await expect(alarm.get_by_role("link", name=f"会话 #{urgent}")).to_have_attribute(
        "href", f"/console/conversations/{urgent}")
    await expect(page).to_have_title(re.compile(r"^【紧急】"))
    top = waiting_rows(page).first  # urgent first
    await expect(top.locator(".badge-urgent")).to_have_text("紧急")
    await expect(top.locator(".reason")).to_have_text("紧急")
    assert await page.evaluate("window.__beeps") > 0
    beeps = await page.evaluate("window.__beeps")

    # another change (a non-urgent rider) refreshes the queue but does not beep again
    await desk.rider_says(HANDOFF, openid="o_rider_other")
    await expect(waiting_rows(page)).to_have_count(3)
    assert await page.evaluate("window.__beeps") == beeps
    await expect(alarm).to_be_visible()

    # taking it ends the alarm, on the conversation page too
    await top.get_by_role("button", name="接手").click()
    await expect(page).to_have_url(desk.url(f"/console/conversations/{urgent}"))
    await expect(page.locator("#state")).to_have_text("处理中")
    await expect(alarm).to_be_hidden()
    await expect(page).not_to_have_title(re.compile(r"^【紧急】"))

    # and a new urgent rider raises it on the conversation page while the caseworker is busy
    await desk.rider_says("出车祸了，流了好多血", openid="o_rider_crash")
    crash = await desk.conversation_of("o_rider_crash")
    await expect(alarm).to_be_visible()
    await expect(alarm).to_contain_text(f"会话 #{crash}")
    await expect(page).to_have_title(re.compile(r"^【紧急】"))
    assert desk.problems == []
    await context.close()


async def test_claim_taken_by_a_colleague_first_shows_who_has_it(desk, browser):
    from playwright.async_api import expect

    desk.add_user("张三")
    desk.add_user("李四")
    await desk.rider_says(HANDOFF, openid="o_rider_both")
    cid = await desk.conversation_of("o_rider_both")
    context, page = await open_page(browser, desk, allowed={409})
    await log_in(page, desk, "李四")
    await expect(waiting_rows(page)).to_have_count(1)

    async def colleague_first(route) -> None:  # 张三 claims it just before 李四's click arrives
        assert await desk.db(lambda store: store.claim(cid, "张三", time.time()))
        await route.continue_()

    await page.route(f"**/api/conversations/{cid}/claim", colleague_first)
    await waiting_rows(page).get_by_role("button", name="接手").click()
    await expect(page.locator("#status")).to_have_text(f"会话 #{cid}：张三已经接手了这个会话")
    await expect(page).to_have_url(desk.url("/console/queue"))
    # the refreshed queue shows it being handled by 张三
    await expect(page.locator("#assigned .row .holder")).to_have_text("张三 在处理")
    await expect(waiting_rows(page)).to_have_count(0)
    assert desk.problems == []
    await context.close()


async def test_waiting_time_counts_up_between_fetches_and_overdue_rows_are_red(desk, browser):
    from playwright.async_api import expect

    desk.add_user("张三")
    await desk.rider_says(HANDOFF, openid="o_rider_slow")
    await desk.rider_says(HANDOFF, openid="o_rider_late")
    now = time.time()
    slow_id, late_id = await desk.conversation_of("o_rider_slow"), await desk.conversation_of("o_rider_late")
    await desk.db(lambda store: store.db.execute(  # straight in the database, before the page opens
        "UPDATE conversations SET waiting_since = ? WHERE id = ?", [now - (12 * 60 + 45), slow_id]))
    await desk.db(lambda store: store.db.execute(
        "UPDATE conversations SET waiting_since = ? WHERE id = ?", [now - 40 * 60, late_id]))  # past 15 minutes
    context, page = await open_page(browser, desk)
    # The page's clock stands still from before the page loads, so only fast_forward moves it:
    # under load the real seconds the checks below take would otherwise bring the page's 30 s
    # fallback refresh inside the 25 s window and make the test fail for no fault of the page.
    await page.clock.install(time=now)
    await page.clock.pause_at(now + 1)
    await log_in(page, desk, "张三")

    late = waiting_rows(page).filter(has_text="…r_late")
    slow = waiting_rows(page).filter(has_text="…r_slow")
    await expect(late.locator(".wait")).to_have_text("已等 40 分钟")
    await expect(late).to_have_class(re.compile(r"\boverdue\b"))
    await expect(late.locator(".badge-overdue")).to_have_text("超时")
    assert await late.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(253, 232, 230)"
    await expect(slow.locator(".wait")).to_have_text("已等 12 分钟")
    await expect(slow).not_to_have_class(re.compile(r"\boverdue\b"))
    await expect(slow.locator(".badge-overdue")).to_have_count(0)

    # 25 s later the page's own clock has moved the count on, without asking the server
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url) if "/api/queue" in r.url else None)
    await page.clock.fast_forward(25_000)
    await expect(slow.locator(".wait")).to_have_text("已等 13 分钟")
    assert requests == []
    assert desk.problems == []
    await context.close()


async def test_expired_session_sends_the_page_to_the_login_form(desk, browser):
    from playwright.async_api import expect

    desk.add_user("张三")
    await desk.rider_says(HANDOFF, openid="o_rider_expiry")
    cid = await desk.conversation_of("o_rider_expiry")
    context, page = await open_page(browser, desk, allowed={401})
    await log_in(page, desk, "张三", f"/console/conversations/{cid}")
    await expect(page.locator("#transcript .msg.rider")).to_have_count(1)

    await desk.db(lambda store: store.end_sessions(store.user_by_name("张三")["id"]))  # e.g. account disabled
    await desk.rider_says("还在吗", openid="o_rider_expiry")  # the page refetches, and is refused
    await expect(page).to_have_url(re.compile(
        rf"/console/login\?next=(/|%2F)console(/|%2F)conversations(/|%2F){cid}$"))
    await expect(page.get_by_role("button", name="登录")).to_be_visible()
    assert desk.problems == []
    await context.close()


# --- one conversation -----------------------------------------------------------------------

async def test_claim_from_queue_then_reply_reaches_wechat_and_shows_delivered(desk, browser):
    from playwright.async_api import expect

    desk.add_user("张三")
    await desk.rider_says(HANDOFF, openid="o_rider_pay")
    cid = await desk.conversation_of("o_rider_pay")
    context, page = await open_page(browser, desk)
    await log_in(page, desk, "张三", f"/console/conversations/{cid}")

    # before claiming, replying is not possible and the page says why
    await expect(page.locator("#transcript .msg.rider .bubble")).to_have_text([HANDOFF])
    await expect(page.locator("#reply")).to_be_disabled()
    await expect(page.locator("#send")).to_be_disabled()
    await expect(page.locator("#reply-hint")).to_have_text("先接手才能回复")

    await page.locator("nav").get_by_role("link", name="排队会话").click()
    await waiting_rows(page).get_by_role("button", name="接手").click()
    await expect(page).to_have_url(desk.url(f"/console/conversations/{cid}"))
    await expect(page.locator("#holder")).to_have_text("我在处理")
    await expect(page.locator("#reply")).to_be_enabled()
    await expect(page.locator("#reply-hint")).to_be_hidden()

    text = "你好，我是工会的张三，工资的事请说说具体情况。"
    await page.locator("#reply").fill(text)
    await page.locator("#reply").press("Control+Enter")
    sent = await desk.wechat.wait_for_sent(1)
    assert sent[0]["body"] == {"touser": "o_rider_pay", "msgtype": "text", "text": {"content": text}}

    mine = page.locator("#transcript .msg.staff")
    await expect(mine.locator(".bubble")).to_have_text([text])
    await expect(mine.locator(".who")).to_have_text(["我（张三）"])
    await expect(mine.locator(".delivery")).to_have_text(["已送达"])
    await expect(page.locator("#reply")).to_have_value("")
    assert desk.problems == []
    await context.close()


async def test_failed_delivery_shows_the_reason_and_resend_delivers_it(desk, browser):
    from playwright.async_api import expect

    desk.add_user("张三")
    await desk.rider_says(HANDOFF, openid="o_rider_gone")
    cid = await desk.conversation_of("o_rider_gone")
    desk.wechat.script = [43004]  # WeChat: not following the account (fails for good)
    context, page = await open_page(browser, desk)
    await log_in(page, desk, "张三", f"/console/conversations/{cid}")
    await page.get_by_role("button", name="接手", exact=True).click()
    await page.locator("#reply").fill("请回复一下")
    await page.get_by_role("button", name="发送").click()

    delivery = page.locator("#transcript .msg.staff .delivery")
    await expect(delivery).to_have_text("发送失败：对方未关注公众号，无法发送重发")
    assert desk.wechat.sent[0]["errcode"] == 43004
    await delivery.get_by_role("button", name="重发").click()
    await desk.wechat.wait_for_sent(1)
    await expect(delivery).to_have_text("已送达")
    await expect(delivery.get_by_role("button", name="重发")).to_have_count(0)
    assert desk.problems == []
    await context.close()


async def test_canned_reply_goes_into_the_box_and_is_not_sent(desk, browser):
    from playwright.async_api import expect

    desk.add_user("张三")
    await desk.rider_says(HANDOFF, openid="o_rider_canned")
    cid = await desk.conversation_of("o_rider_canned")
    context, page = await open_page(browser, desk)
    await log_in(page, desk, "张三", f"/console/conversations/{cid}")
    await expect(page.locator("#canned").get_by_role("button", name="接手问候")).to_be_disabled()
    await page.get_by_role("button", name="接手", exact=True).click()
    await expect(page.locator("#reply")).to_be_enabled()

    await page.locator("#reply").fill("张师傅，")
    await page.locator("#canned").get_by_role("button", name="接手问候").click()
    value = await page.locator("#reply").input_value()
    assert value.startswith("张师傅，" + GREETING)
    await expect(page.locator("#reply")).to_be_focused()

    assert await page.locator("#transcript .msg.staff").count() == 0

    # nothing went out: the first thing WeChat receives is the reply sent by hand afterwards
    await page.locator("#reply").fill("好的")
    await page.get_by_role("button", name="发送").click()
    sent = await desk.wechat.wait_for_sent(1)
    assert [s["body"]["text"]["content"] for s in sent] == ["好的"]
    await expect(page.locator("#transcript .msg.staff .bubble")).to_have_text(["好的"])
    assert desk.problems == []
    await context.close()


async def test_note_is_shown_as_internal_and_never_sent_to_the_rider(desk, browser):
    from playwright.async_api import expect

    desk.add_user("张三")
    await desk.rider_says(HANDOFF, openid="o_rider_note")
    cid = await desk.conversation_of("o_rider_note")
    context, page = await open_page(browser, desk)
    await log_in(page, desk, "张三", f"/console/conversations/{cid}")
    await expect(page.locator(".notes .internal")).to_have_text("仅内部可见，骑手看不到")

    note = "骑手说站长扣了三天工资，明天打电话核实"
    await page.locator("#note").fill(note)
    await page.get_by_role("button", name="添加备注").click()
    await expect(page.locator("#notes .note-text")).to_have_text([note])
    await expect(page.locator("#notes .who")).to_have_text(["张三"])
    await expect(page.locator("#note")).to_have_value("")
    await expect(page.locator("#transcript")).not_to_contain_text(note)

    # a reply after it is the only thing WeChat gets: the outbox ran, the note was not in it
    await page.get_by_role("button", name="接手", exact=True).click()
    await page.locator("#reply").fill("收到")
    await page.get_by_role("button", name="发送").click()
    await expect(page.locator("#transcript .msg.staff .delivery")).to_have_text("已送达")
    assert [s["body"]["text"]["content"] for s in desk.wechat.sent] == ["收到"]
    assert desk.problems == []
    await context.close()


async def test_hostile_rider_text_is_shown_literally_in_queue_and_transcript(desk, browser):
    from playwright.async_api import expect

    desk.add_user("张三")
    await desk.rider_says(HANDOFF, openid="o_rider_evil")
    await desk.rider_says(XSS, openid="o_rider_evil")
    cid = await desk.conversation_of("o_rider_evil")
    context, page = await open_page(browser, desk)
    await log_in(page, desk, "张三")

    preview = waiting_rows(page).locator(".preview")
    await expect(preview).to_have_text(XSS)
    assert await page.locator("main img, main script, main [onerror]").count() == 0

    await waiting_rows(page).locator("a.open").click()
    await expect(page).to_have_url(desk.url(f"/console/conversations/{cid}"))
    bubbles = page.locator("#transcript .msg.rider .bubble")
    await expect(bubbles).to_have_text([HANDOFF, XSS])
    assert await page.locator("main img, main script, main [onerror]").count() == 0
    assert await page.evaluate("typeof window.__xss") == "undefined"
    assert desk.problems == []
    await context.close()


async def test_transfer_release_and_close_from_the_conversation_page(desk, browser):
    from playwright.async_api import expect

    desk.add_user("张三")
    desk.add_user("李四")
    desk.add_user("编辑小刘", role="editor")  # cannot take conversations: not offered
    await desk.rider_says(HANDOFF, openid="o_rider_pass")
    cid = await desk.conversation_of("o_rider_pass")
    context, page = await open_page(browser, desk)
    await log_in(page, desk, "张三", f"/console/conversations/{cid}")
    await expect(page.locator("#release")).to_be_hidden()
    await page.get_by_role("button", name="接手", exact=True).click()
    await expect(page.locator("#claim")).to_be_hidden()

    # release: back in the queue, nobody holds it
    await page.get_by_role("button", name="放回队列").click()
    await expect(page.locator("#status")).to_have_text("已放回队列，同事可以接手")
    await expect(page.locator("#state")).to_have_text("等待接手")
    await expect(page.locator("#reply-hint")).to_have_text("先接手才能回复")

    # transfer: only colleagues who can take conversations, never myself
    await page.get_by_role("button", name="接手", exact=True).click()
    select = page.locator("#transfer-to")
    await expect(select.locator("option")).to_have_text(["选择同事……", "李四"])
    await page.get_by_role("button", name="转给同事").click()
    await expect(page.locator("#status")).to_have_text("请先选择要转给哪位同事")
    await select.select_option("李四")
    await page.get_by_role("button", name="转给同事").click()
    await expect(page.locator("#status")).to_have_text("已转给李四")
    await expect(page.locator("#holder")).to_have_text("李四 在处理")
    await expect(page.locator("#reply")).to_be_disabled()
    assert (await desk.db(lambda store: store.conversation(cid)))["assigned_to"] == "李四"

    # 李四 closes it after confirming; the rider is told, and the page shows it ended
    other, theirs = await open_page(browser, desk)
    await log_in(theirs, desk, "李四", f"/console/conversations/{cid}")
    await expect(theirs.locator("#holder")).to_have_text("我在处理")
    questions: list[str] = []

    async def answer(dialog, accept: bool) -> None:
        questions.append(dialog.message)
        await (dialog.accept() if accept else dialog.dismiss())

    theirs.once("dialog", lambda d: asyncio.ensure_future(answer(d, False)))
    await theirs.get_by_role("button", name="结束人工").click()
    await expect(theirs.locator("#state")).to_have_text("处理中")
    theirs.once("dialog", lambda d: asyncio.ensure_future(answer(d, True)))
    await theirs.get_by_role("button", name="结束人工").click()
    await expect(theirs.locator("#state")).to_have_text("已结束")
    await expect(theirs.locator("#reply-hint")).to_have_text("这个会话已经结束，不能再回复")
    assert len(questions) == 2 and "结束人工服务" in questions[0]
    farewell = await desk.wechat.wait_for_sent(1)
    assert farewell[0]["body"]["touser"] == "o_rider_pass"
    await expect(theirs.locator("#transcript .msg.staff .delivery")).to_have_text("已送达")
    # 张三's page follows live
    await expect(page.locator("#state")).to_have_text("已结束")
    assert desk.problems == []
    await other.close()
    await context.close()


async def test_reply_window_warning_and_a_refused_reply_keeps_the_text(desk, browser):
    from playwright.async_api import expect

    desk.add_user("张三")
    await desk.rider_says(HANDOFF, openid="o_rider_window")
    cid = await desk.conversation_of("o_rider_window")
    await desk.db(lambda store: store.db.execute("UPDATE riders SET last_message_at = ? WHERE id = ?",
                                                 [time.time() - 46.5 * 3600, "wechat:o_rider_window"]))
    context, page = await open_page(browser, desk, allowed={413})
    await log_in(page, desk, "张三", f"/console/conversations/{cid}")
    warning = page.locator("#warning")
    await expect(warning).to_have_text(re.compile(r"^48小时回复时限还剩 1 小时 \d+ 分$"))
    assert await warning.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(255, 243, 191)"

    await page.get_by_role("button", name="接手", exact=True).click()
    too_long = "工资" * 350  # 2100 bytes: over one WeChat message
    await page.locator("#reply").fill(too_long)
    await expect(page.locator("#reply-count")).to_contain_text("太长了")
    await page.get_by_role("button", name="发送").click()
    await expect(page.locator("#status")).to_contain_text("回复太长：微信一条最多约 682 个汉字")
    await expect(page.locator("#reply")).to_have_value(too_long)
    await expect(page.locator("#send")).to_be_enabled()
    assert await page.locator("#transcript .msg.staff").count() == 0

    # and the draft survives a reload of the page
    await page.reload()
    await expect(page.locator("#reply")).to_have_value(too_long)
    assert desk.problems == []
    await context.close()


async def test_transcript_shows_faq_details_media_and_earlier_conversations(desk, browser):
    from playwright.async_api import expect

    desk.add_user("张三")
    rider = "o_rider_story"
    await desk.rider_says("押金不给退怎么办", openid=rider)  # the bot answers from the FAQ
    await desk.rider_says(HANDOFF, openid=rider)
    first = await desk.conversation_of(rider)
    await desk.rider_says("结束人工", openid=rider)  # back to the bot: that conversation ends
    await desk.rider_says(HANDOFF, openid=rider)
    await desk.rider_says("", openid=rider, kind="image")
    second = await desk.conversation_of(rider)
    assert second != first
    context, page = await open_page(browser, desk)
    await log_in(page, desk, "张三", f"/console/conversations/{first}")

    await expect(page.locator("#state")).to_have_text("已结束")
    bot = page.locator("#transcript .msg.bot")
    await expect(bot.first.locator(".bubble")).to_contain_text("押金")
    await expect(bot.first.locator(".msg-info")).to_have_text(re.compile(r"^问答 pay-deposit · \d+\.\d · 已回答$"))
    await expect(bot.nth(1).locator(".msg-info")).to_have_text("转人工")
    # rider on the left, bot on the right
    rider_box = await page.locator("#transcript .msg.rider .bubble").first.bounding_box()
    bot_box = await bot.first.locator(".bubble").bounding_box()
    assert rider_box["x"] < bot_box["x"]
    await expect(page.locator("#transcript .msg.rider time").first).to_have_text(re.compile(r"^\d\d:\d\d$"))

    link = page.locator("#history a")
    await expect(link).to_have_text([f"会话 #{second}"])
    await expect(page.locator("#history li")).to_contain_text(["等待接手 · 要求人工"])
    await link.click()
    await expect(page).to_have_url(desk.url(f"/console/conversations/{second}"))
    await expect(page.locator("#transcript .msg.rider .bubble")).to_have_text([HANDOFF, "[图片]"])
    await expect(page.locator("#history a")).to_have_text([f"会话 #{first}"])
    assert desk.problems == []
    await context.close()


# --- accounts --------------------------------------------------------------------------------

async def test_accounts_page_refused_to_caseworker_and_admin_adds_an_account(desk, browser):
    from playwright.async_api import expect

    desk.add_user("张三")
    desk.add_user("王主任", role="admin")

    worker, page = await open_page(browser, desk, allowed={403})
    await log_in(page, desk, "张三")
    await expect(page.locator("nav").get_by_role("link", name="账号")).to_have_count(0)
    response = await page.goto(desk.url("/console/users"))
    assert response.status == 403
    await expect(page.locator("body")).to_have_text("你的账号没有这个权限")
    await worker.close()
    desk.problems.clear()

    context, page = await open_page(browser, desk)
    await log_in(page, desk, "王主任", "/console/users")
    rows = page.locator("#users tbody tr")

    def user_row(name: str):
        return rows.filter(has=page.locator("td:first-child", has_text=re.compile("^" + name)))

    await expect(rows).to_have_count(2)
    await expect(user_row("张三").locator("select")).to_have_value("caseworker")
    await expect(user_row("张三").locator("td").nth(2)).to_have_text("在用")
    await expect(user_row("王主任").locator("td").first).to_have_text("王主任（我）")
    await expect(user_row("王主任").get_by_role("button", name="停用")).to_be_disabled()

    # a password under 10 characters is refused before anything is sent
    await page.get_by_label("名字").fill("李四")
    await page.get_by_label("密码").fill("short")
    await page.get_by_role("button", name="添加账号").click()
    await expect(page.locator("#status")).to_have_text("密码至少 10 个字符")
    await expect(rows).to_have_count(2)

    await page.get_by_label("密码").fill("another-long-password")
    await page.locator("#new-role").select_option("caseworker")
    await page.get_by_role("button", name="添加账号").click()
    await expect(page.locator("#status")).to_have_text("已添加账号 李四（接待员）")
    await expect(rows).to_have_count(3)
    new = user_row("李四")
    await expect(new.locator("td").nth(2)).to_have_text("在用")
    await expect(new.locator("select")).to_have_value("caseworker")
    await expect(page.get_by_label("名字")).to_have_value("")
    assert (await desk.db(lambda store: store.user_by_name("李四")))["role"] == "caseworker"
    audit = page.locator("#audit tbody tr").first
    await expect(audit.locator("td").nth(2)).to_have_text("添加账号")
    await expect(audit.locator("td").nth(3)).to_have_text("账号 李四")

    # disable the new account, and the audit log shows it, newest first
    await new.get_by_role("button", name="停用").click()
    await expect(page.locator("#status")).to_have_text("已停用 李四")
    await expect(new.locator("td").nth(2)).to_have_text("已停用")
    await expect(audit.locator("td").nth(2)).to_have_text("修改账号")
    assert not (await desk.db(lambda store: store.user_by_name("李四")))["active"]

    # and a role change
    await user_row("张三").locator("select").select_option("editor")
    await expect(page.locator("#status")).to_have_text("已把 张三 改为知识库编辑")
    await expect(user_row("张三").locator("select")).to_have_value("editor")
    assert (await desk.db(lambda store: store.user_by_name("张三")))["role"] == "editor"
    assert desk.problems == []
    await context.close()


# --- phone width -----------------------------------------------------------------------------

async def test_conversation_page_works_at_400px_wide(desk, browser):
    from playwright.async_api import expect

    desk.add_user("张三")
    await desk.rider_says(HANDOFF, openid="o_rider_phone")
    cid = await desk.conversation_of("o_rider_phone")
    context, page = await open_page(browser, desk, width=400, height=800)
    await log_in(page, desk, "张三")
    claim = waiting_rows(page).get_by_role("button", name="接手")
    await expect(claim).to_be_in_viewport()
    assert await page.evaluate("document.documentElement.scrollWidth") <= 400
    await claim.click()
    await expect(page).to_have_url(desk.url(f"/console/conversations/{cid}"))

    reply = page.locator("#reply")
    await expect(reply).to_be_enabled()
    await reply.scroll_into_view_if_needed()
    await expect(reply).to_be_in_viewport()
    await expect(page.locator("#send")).to_be_in_viewport()
    box = await reply.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 400 and box["width"] > 300
    assert await page.evaluate("document.documentElement.scrollWidth") <= 400
    await reply.fill("手机上也能回复")
    await page.locator("#send").click()
    await expect(page.locator("#transcript .msg.staff .delivery")).to_have_text("已送达")
    await page.screenshot(path="/tmp/console-phone.png", full_page=True)
    assert desk.problems == []
    await context.close()
