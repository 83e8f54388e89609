"""The web chat at /chat: its JSON API through aiohttp's test client, and the page itself in a
real headless chromium against the real app on a loopback port."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
import pytest

from bot.app import STORE, create_app
from storage import web_visitor_id

pytestmark = pytest.mark.both_backends

API = "/chat/api/messages"
DEPOSIT = "押金不给退怎么办"
HANDOFF_TEXT = "已经帮你转给工作人员"  # knowledge/messages.yaml: handoff
HOLDING_TEXT = "你的消息已转给工作人员"  # knowledge/messages.yaml: holding


def stored(client) -> int:
    return client.app[STORE].store.db["messages"].count


def inbound_rows(client) -> list[dict]:
    return list(client.app[STORE].store.db["messages"].rows_where("direction = 'in'", order_by="id"))


async def say(client, text: str, **extra) -> dict:
    resp = await client.post(API, json={"text": text, **extra})
    assert resp.status == 200, await resp.text()
    return await resp.json()


# --- the JSON API -------------------------------------------------------------------------

async def test_question_answered_from_faq_and_visitor_cookie_set(client):
    resp = await client.post(API, json={"text": DEPOSIT})
    assert resp.status == 200
    body = await resp.json()
    assert "押金" in body["reply"] and "依据" in body["reply"]
    assert body["outcome"] == "answer"
    cookie = resp.cookies["gigdesk_chat"]
    assert len(cookie.value) >= 16
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert cookie["path"] == "/"
    # the message and the answer are recorded under the visitor's web id
    rows = client.app[STORE].store.rider_messages(f"web:{web_visitor_id(cookie.value)}")
    assert [(r["direction"], r["text"]) for r in rows] == [("in", DEPOSIT), ("out", body["reply"])]


async def test_history_in_order_for_this_visitor_only(client):
    reply = (await say(client, DEPOSIT))["reply"]
    resp = await client.get(API)
    assert resp.status == 200
    messages = (await resp.json())["messages"]
    assert [(m["from"], m["text"]) for m in messages] == [("me", DEPOSIT), ("bot", reply)]
    assert messages[0]["id"] < messages[1]["id"]
    # after= gives only what is newer, which is how the page polls
    newer = await client.get(API, params={"after": str(messages[0]["id"])})
    assert [m["text"] for m in (await newer.json())["messages"]] == [reply]

    # another visitor (a fresh cookie jar) sees nothing of it, then only their own messages
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as other:
        url = client.make_url(API)
        async with other.get(url) as r:
            assert r.status == 200
            assert (await r.json())["messages"] == []
        async with other.post(url, json={"text": "工资被拖欠怎么办"}) as r:
            assert r.status == 200
        async with other.get(url) as r:
            theirs = (await r.json())["messages"]
    assert [m["text"] for m in theirs if m["from"] == "me"] == ["工资被拖欠怎么办"]
    mine = (await (await client.get(API)).json())["messages"]
    assert [(m["from"], m["text"]) for m in mine] == [("me", DEPOSIT), ("bot", reply)]


async def test_unknown_visitor_cookie_gets_empty_history(client):
    await say(client, DEPOSIT)
    resp = await client.get(API, cookies={"gigdesk_chat": "x" * 24})
    assert (await resp.json())["messages"] == []


async def test_resent_client_id_counts_once(client):
    first = await say(client, DEPOSIT, client_id="m-1_a")
    again = await say(client, DEPOSIT, client_id="m-1_a")
    assert again["reply"] == first["reply"]
    assert [r["text"] for r in inbound_rows(client)] == [DEPOSIT]
    # a new client_id is a new message, even with the same words
    await say(client, DEPOSIT, client_id="m-2")
    assert len(inbound_rows(client)) == 2


async def test_same_client_id_from_two_visitors_is_two_messages(client):
    await say(client, DEPOSIT, client_id="same")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as other:
        async with other.post(client.make_url(API), json={"text": DEPOSIT, "client_id": "same"}) as r:
            assert r.status == 200
            assert "押金" in (await r.json())["reply"]
    assert len(inbound_rows(client)) == 2


async def test_text_of_exactly_1000_characters_is_accepted(client):
    resp = await client.post(API, json={"text": "押" * 1000})
    assert resp.status == 200
    assert inbound_rows(client)[0]["text"] == "押" * 1000


async def test_same_origin_header_is_accepted(client):
    origin = str(client.make_url("/")).rstrip("/")
    resp = await client.post(API, json={"text": DEPOSIT}, headers={"Origin": origin})
    assert resp.status == 200
    assert stored(client) == 2


def _json(value) -> dict:
    return {"data": json.dumps(value, ensure_ascii=False).encode(), "headers": {"Content-Type": "application/json"}}


BAD_POSTS = [
    ("form post", {"data": {"text": DEPOSIT}}, 415),
    ("text/plain json", {"data": json.dumps({"text": DEPOSIT}).encode(), "headers": {"Content-Type": "text/plain"}}, 415),
    ("no content type", {"data": b'{"text": "hi"}', "skip_auto_headers": ["Content-Type"]}, 415),
    ("invalid json", {"data": b'{"text": ', "headers": {"Content-Type": "application/json"}}, 400),
    ("empty body", {"data": b"", "headers": {"Content-Type": "application/json"}}, 400),
    ("invalid utf-8", {"data": b'{"text": "\xff\xfe"}', "headers": {"Content-Type": "application/json"}}, 400),
    ("json array", _json([DEPOSIT]), 400),
    ("json string", _json(DEPOSIT), 400),
    ("text missing", _json({"message": DEPOSIT}), 400),
    ("text empty", _json({"text": ""}), 400),
    ("text blank", _json({"text": " \n\t "}), 400),
    ("text null", _json({"text": None}), 400),
    ("text number", _json({"text": 42}), 400),
    ("text list", _json({"text": [DEPOSIT]}), 400),
    ("text 1001 characters", _json({"text": "押" * 1001}), 413),
    ("body over 16 KB", _json({"text": "a" * 20000}), 413),
    ("client_id number", _json({"text": DEPOSIT, "client_id": 7}), 400),
    ("client_id empty", _json({"text": DEPOSIT, "client_id": ""}), 400),
    ("client_id space", _json({"text": DEPOSIT, "client_id": "a b"}), 400),
    ("client_id markup", _json({"text": DEPOSIT, "client_id": "<script>"}), 400),
    ("client_id 65 chars", _json({"text": DEPOSIT, "client_id": "a" * 65}), 400),
    # `$` in a Python regex also matches before a trailing newline
    ("client_id trailing newline", _json({"text": DEPOSIT, "client_id": "abc\n"}), 400),
    ("cross-site origin", {**_json({"text": DEPOSIT}), "headers": {"Content-Type": "application/json",
                                                                   "Origin": "https://evil.example"}}, 403),
    ("origin other port", {**_json({"text": DEPOSIT}), "headers": {"Content-Type": "application/json",
                                                                   "Origin": "http://127.0.0.1:1"}}, 403),
    ("origin null", {**_json({"text": DEPOSIT}), "headers": {"Content-Type": "application/json",
                                                             "Origin": "null"}}, 403),
]


@pytest.mark.parametrize("name, kwargs, status", BAD_POSTS, ids=[c[0] for c in BAD_POSTS])
async def test_bad_post_refused_with_json_error_and_nothing_stored(client, name, kwargs, status):
    resp = await client.post(API, **kwargs)
    assert resp.status == status, await resp.text()
    assert resp.content_type == "application/json"
    body = await resp.json()
    assert set(body) == {"error"} and body["error"]
    assert stored(client) == 0
    assert client.app[STORE].store.db["deliveries"].count == 0


@pytest.mark.parametrize("after", ["abc", "-1", "1.5", "1e3", "", "9" * 19, "²"],
                         ids=["letters", "negative", "decimal", "exponent", "empty", "too long",
                              "superscript two"])  # "²".isdigit() is True but int("²") raises
async def test_bad_after_is_400_with_json_error(client, after):
    await say(client, DEPOSIT)
    before = stored(client)
    resp = await client.get(API, params={"after": after})
    assert resp.status == 400, await resp.text()
    assert set(await resp.json()) == {"error"}
    assert stored(client) == before


async def test_handoff_in_web_chat(client):
    body = await say(client, "转人工")
    assert HANDOFF_TEXT in body["reply"]
    assert body["outcome"] == "handoff"
    waiting = client.app[STORE].store.conversations_in_state("waiting")
    assert len(waiting) == 1 and waiting[0]["rider_id"].startswith("web:")
    # while waiting for a person, the bot holds on what it cannot answer...
    assert HOLDING_TEXT in (await say(client, "今天晚上吃什么好"))["reply"]
    # ...and answers what it can, saying the person will still reply
    assert "还在等工作人员" in (await say(client, DEPOSIT))["reply"]


async def test_page_served_with_csp_and_cookie(client):
    resp = await client.get("/chat")
    assert resp.status == 200
    assert resp.content_type == "text/html"
    assert 'id="text"' in await resp.text()
    csp = resp.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert resp.cookies["gigdesk_chat"]["httponly"] is True


# --- the page in a real browser -------------------------------------------------------------

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
browser_test = pytest.mark.skipif(not CHROMIUM.exists(),
                                  reason=f"browser tests need chromium at {CHROMIUM} (CI installs it)")
XSS = "<img src=x onerror=alert(1)> and <b>bold</b>"


@pytest.fixture
async def chat_url(aiohttp_server, settings) -> str:
    server = await aiohttp_server(create_app(settings), host="127.0.0.1", port=0)
    return str(server.make_url("/chat"))


@pytest.fixture
async def browser():
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            await browser.close()


async def open_phone(browser):
    context = await browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2,
                                        is_mobile=True, has_touch=True, locale="zh-CN")
    context.set_default_timeout(10_000)
    page = await context.new_page()
    problems: list[str] = []
    page.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), asyncio.ensure_future(d.dismiss())))
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))

    def console(message) -> None:
        where = message.location.get("url", "")
        # chromium asks for /favicon.ico on its own; the page has none (cosmetic, not the chat's doing)
        if message.type == "error" and not where.endswith("/favicon.ico"):
            problems.append(f"console: {message.text} at {where}")

    page.on("console", console)
    page.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    return context, page, problems


async def ask(page, text: str) -> None:
    """Type into the box and press Enter; wait until the answer to it is on the page."""
    from playwright.async_api import expect

    mine = page.locator("#log .msg.me .bubble")
    theirs = page.locator("#log .msg.bot .bubble")
    mine_before, theirs_before = await mine.count(), await theirs.count()
    await page.locator("#text").fill(text)
    await page.locator("#text").press("Enter")
    await expect(mine).to_have_count(mine_before + 1)
    await expect(theirs).to_have_count(theirs_before + 1)
    await expect(page.locator("#text")).to_have_value("")


@browser_test
async def test_browser_question_enter_answer_and_reload(browser, chat_url):
    from playwright.async_api import expect

    context, page, problems = await open_phone(browser)
    await page.goto(chat_url)
    greeting = page.locator("#log .msg.bot .bubble")
    await expect(greeting).to_have_count(1)
    await expect(greeting).to_contain_text("有困难，找工会")  # the welcome from messages.yaml

    await ask(page, DEPOSIT)
    assert await page.locator("#log .msg.me .bubble").all_text_contents() == [DEPOSIT]
    answer = page.locator("#log .msg.bot .bubble").last
    await expect(answer).to_contain_text("押金")
    await expect(answer).to_contain_text("依据")

    # WeChat's layout: the rider's green bubble on the right, the bot's white one on the left
    mine = await page.locator("#log .msg.me .bubble").bounding_box()
    bots = await answer.bounding_box()
    assert mine["x"] > 390 / 2 and mine["x"] + mine["width"] > 390 * 0.8
    assert bots["x"] < 40
    colour = await page.locator("#log .msg.me .bubble").evaluate("e => getComputedStyle(e).backgroundColor")
    assert colour == "rgb(149, 236, 105)"
    await page.screenshot(path="/tmp/chat.png")

    await page.reload()
    await expect(page.locator("#log .msg.me .bubble")).to_have_text([DEPOSIT])
    await expect(page.locator("#log .msg.bot .bubble")).to_have_count(1)  # the answer, not the greeting
    await expect(page.locator("#log .msg.bot .bubble")).to_contain_text("依据")

    # another phone (no cookie) starts a fresh conversation
    other, other_page, _ = await open_phone(browser)
    await other_page.goto(chat_url)
    await expect(other_page.locator("#log .msg.bot .bubble")).to_contain_text(["有困难，找工会"])
    assert await other_page.locator("#log .msg.me").count() == 0
    await other.close()

    assert problems == []
    await context.close()


@browser_test
async def test_browser_shows_markup_as_literal_text(browser, chat_url):
    from playwright.async_api import expect

    context, page, problems = await open_phone(browser)
    await page.goto(chat_url)
    await expect(page.locator("#log .msg.bot")).to_have_count(1)
    await ask(page, XSS)
    for attempt in ("sent", "restored"):
        bubble = page.locator("#log .msg.me .bubble")
        await expect(bubble).to_have_count(1)
        assert await bubble.text_content() == XSS, attempt
        assert await page.locator("#log img").count() == 0, attempt
        assert await page.locator("#log b").count() == 0, attempt
        assert await page.locator("#log script, #log [onerror]").count() == 0, attempt
        if attempt == "sent":
            await page.reload()
            await expect(page.locator("#log .msg.bot .bubble")).to_have_count(1)
    assert problems == []
    await context.close()


@browser_test
async def test_browser_refused_message_shows_the_error_and_keeps_the_text(browser, chat_url):
    from playwright.async_api import expect

    context, page, problems = await open_phone(browser)
    await page.goto(chat_url)
    await expect(page.locator("#log .msg.bot")).to_have_count(1)
    too_long = "押" * 1001  # the textarea's maxlength stops typing, not a script setting the value
    await page.locator("#text").evaluate("(e, v) => { e.removeAttribute('maxlength'); e.value = v; }", too_long)
    await page.locator("#text").press("Enter")
    await expect(page.locator("#status")).to_contain_text("消息太长")
    await expect(page.locator("#text")).to_have_value(too_long)
    await expect(page.locator("#send")).to_be_enabled()
    assert await page.locator("#log .msg.me").count() == 0
    assert [p for p in problems if "413" not in p] == []  # the browser logs the refused request
    await context.close()


LINE_BOXES = "e => { const r = document.createRange(); r.selectNodeContents(e); return r.getClientRects().length; }"


@browser_test
async def test_browser_short_message_is_one_line_and_sits_at_the_edge(browser, chat_url):
    """Like WeChat: a short message is a snug one-line bubble at the screen's edge, the rider's
    on the right mirroring the bot's on the left."""
    from playwright.async_api import expect

    context, page, problems = await open_phone(browser)
    await page.goto(chat_url)
    await expect(page.locator("#log .msg.bot")).to_have_count(1)
    await ask(page, DEPOSIT)  # 8 characters: about 130 px of a 390 px screen
    mine = page.locator("#log .msg.me .bubble")
    assert await mine.evaluate(LINE_BOXES) == 1
    bot_box = await page.locator("#log .msg.bot .bubble").first.bounding_box()
    my_box = await mine.bounding_box()
    assert 390 - (my_box["x"] + my_box["width"]) == pytest.approx(bot_box["x"], abs=2)
    assert problems == []
    await context.close()
