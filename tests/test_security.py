"""Security checks driven by the app's own router, so a route added tomorrow is checked too:
every /console and /api handler declares who may call it, anonymous and wrong-role callers are
refused, every write refuses a missing CSRF token and a foreign Origin. Also: a planted valid
session is not promoted by someone else's log-in, and FAQ text with markup is shown as text in
the web chat and the console in headless chromium.

Already proven elsewhere, not repeated here: the log-in rate limit, a planted random cookie,
log-out and the open redirect (test_console_security.py); path traversal on evidence files
(test_cases.py); rider text with markup in the queue, transcript and case pages
(test_console_browser.py, test_cases_browser.py, test_webchat.py)."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import aiohttp
import pytest

from bot.app import create_app
from tests.conftest import PASSWORD, Console, add_user

pytestmark = pytest.mark.both_backends

# The only routes anyone may call without logging in. A new @public handler fails
# test_only_the_known_routes_are_public until it is added here on purpose.
PUBLIC = {("GET", "/console/login"), ("POST", "/console/login"), ("GET", "/api/openapi.json")}
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
KNOWLEDGE = Path(__file__).resolve().parent.parent / "knowledge"
EVIL_ORIGIN = "https://evil.example"


def guarded(app) -> list[tuple[str, str, str | None]]:
    """(method, example path, permission) of every /console and /api route. The permission is
    what @requires/@public put on the handler; "undeclared" when neither did."""
    found = []
    for route in app.router.routes():
        template = route.resource.canonical if route.resource else ""
        if route.method == "HEAD" or not (template.startswith("/api") or template.startswith("/console")):
            continue
        example = re.sub(r"\{[^}]+\}", "1", template)
        found.append((route.method, example, getattr(route.handler, "permission", "undeclared")))
    assert len(found) >= 30  # the walk found the console, not nothing
    return found


def template_of(app, method: str, example: str) -> str:
    return next(r.resource.canonical for r in app.router.routes()
                if r.method == method and re.sub(r"\{[^}]+\}", "1", r.resource.canonical) == example)


def test_every_route_declares_who_may_call_it(client):
    undeclared = [(m, p) for m, p, permission in guarded(client.app) if permission == "undeclared"]
    assert undeclared == []  # the guard would refuse them all (403), but the gap should not ship
    known = {"signed_in", "conversations", "faq", "users", None}
    assert {permission for _, _, permission in guarded(client.app)} <= known


def test_only_the_known_routes_are_public(client):
    public = {(m, template_of(client.app, m, p)) for m, p, permission in guarded(client.app) if permission is None}
    assert public == PUBLIC


async def test_anonymous_callers_are_refused_everywhere_but_the_public_routes(client):
    for method, path, permission in guarded(client.app):
        resp = await client.request(method, path, allow_redirects=False)
        if permission is None:
            assert resp.status not in (401, 403), (method, path)
        elif method == "GET" and path.startswith("/console"):
            assert resp.status == 302, (method, path, resp.status)
            assert resp.headers["Location"].startswith("/console/login?next="), (method, path)
        else:
            assert resp.status == 401, (method, path, resp.status)
            assert (await resp.json())["error"] == "请先登录"


@pytest.mark.parametrize("role, forbidden", [("caseworker", {"faq", "users"}),
                                             ("editor", {"conversations", "users"})])
async def test_a_role_is_refused_every_route_outside_its_permissions(client, console, role, forbidden):
    staff = await console(f"someone-{role}", role=role)
    checked = 0
    for method, path, permission in guarded(client.app):
        if permission not in forbidden:
            continue
        checked += 1
        # With the CSRF token, so that a 403 can only be the role's.
        async with staff.session.request(method, staff.base + path, json={}, allow_redirects=False,
                                         headers={"X-CSRF-Token": staff.csrf}) as resp:
            assert resp.status == 403, (role, method, path, resp.status)
            if path.startswith("/api"):
                assert (await resp.json())["error"] == "你的账号没有这个权限", (method, path)
    assert checked >= 10


async def test_an_admin_is_let_through_every_page_and_read(client, console):
    """The counterpart of the refusals above: the same walk as an admin gets no 401 or 403,
    so those refusals are about the role, not a broken route."""
    admin = await console("boss", role="admin")
    for method, path, permission in guarded(client.app):
        if method != "GET" or path == "/api/events":  # an endless stream: its refusal is checked above
            continue
        async with admin.session.get(admin.base + path, allow_redirects=False) as resp:
            assert resp.status not in (401, 403), (path, resp.status)


async def test_every_write_refuses_a_missing_token_a_foreign_origin_and_a_broken_form(client, console):
    admin = await console("boss", role="admin")  # every permission: a 403 here is the CSRF check
    writes = [(m, p) for m, p, permission in guarded(client.app) if m in UNSAFE and permission is not None]
    assert len(writes) >= 15
    attempts = {
        "no token": {"json": {}},
        "foreign origin": {"json": {}, "headers": {"X-CSRF-Token": admin.csrf, "Origin": EVIL_ORIGIN}},
        "forged token": {"json": {}, "headers": {"X-CSRF-Token": "forged"}},
        # No Origin (an old browser): the Referer must then be ours, as OWASP suggests.
        "foreign referer": {"json": {}, "headers": {"X-CSRF-Token": admin.csrf, "Referer": EVIL_ORIGIN + "/x"}},
        # compare_digest raised TypeError on a non-ASCII token: a 500 instead of a 403.
        "non-ASCII token": {"json": {}, "headers": {"X-CSRF-Token": "令牌".encode().decode("latin-1")}},
        # A cross-site form cannot set headers; a multipart body without a boundary once ended in a 500.
        "form without boundary": {"data": b"csrf=x", "headers": {"Content-Type": "multipart/form-data"}},
    }
    for method, path in writes:
        for name, kwargs in attempts.items():
            async with admin.session.request(method, admin.base + path, allow_redirects=False, **kwargs) as resp:
                assert resp.status == 403, (name, method, path, resp.status)
                assert "CSRF" in (await resp.json())["error"], (name, method, path)
    async with admin.session.get(admin.base + "/api/me") as resp:
        assert resp.status == 200  # and nothing above ended the session


async def test_a_planted_valid_session_is_not_promoted_by_someone_elses_log_in(client):
    """An attacker puts their own, valid session cookie into a shared browser; the union's
    admin then logs in there. The admin gets a new session, and the planted one is ended
    rather than carried over: the attacker's cookie never becomes the admin's."""
    add_user(client.app, "mallory")
    add_user(client.app, "boss", role="admin")
    attacker, victim = Console(str(client.make_url(""))), Console(str(client.make_url("")))
    try:
        assert await attacker.log_in("mallory") == 303
        planted = next(m.value for m in attacker.session.cookie_jar if m.key == "gigdesk_console")
        assert (await attacker.get("/api/me"))[1]["name"] == "mallory"

        victim.session.cookie_jar.update_cookies({"gigdesk_console": planted}, client.make_url("/"))
        assert await victim.log_in("boss", PASSWORD) == 303
        issued = next(m.value for m in victim.session.cookie_jar if m.key == "gigdesk_console")
        assert issued != planted
        assert (await victim.get("/api/me"))[1]["name"] == "boss"
        assert (await attacker.get("/api/me"))[0] == 401
        assert (await attacker.get("/api/users"))[0] == 401
    finally:
        await attacker.close()
        await victim.close()


# --- FAQ text with markup, in a real browser ---------------------------------------------------

PAYLOAD = "<img src=x onerror=window.__xss=1><script>window.__xss=1</script>"
QUESTION = "送外卖路上跟车相撞了咋处理"  # an example phrasing of traffic-accident


@pytest.fixture
async def hostile_desk(aiohttp_server, settings, fake_wechat, tmp_path):
    """The app with a copy of the FAQ whose traffic-accident answer carries markup, as a
    careless or malicious edit of the FAQ files would."""
    from tests.test_console_browser import Desk

    knowledge = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE, knowledge)
    faq = knowledge / "faq" / "accident.yaml"
    text = faq.read_text(encoding="utf-8")
    assert "      先保安全：\n" in text
    faq.write_text(text.replace("      先保安全：\n", f"      先保安全：{PAYLOAD}\n", 1), encoding="utf-8")
    app = create_app(settings.with_overrides(knowledge_dir=str(knowledge)))
    server = await aiohttp_server(app, host="127.0.0.1", port=0)
    async with aiohttp.ClientSession() as http:
        yield Desk(app, str(server.make_url("")).rstrip("/"), fake_wechat, http)


@pytest.fixture
async def chromium(hostile_desk):  # after the desk, so the browser closes before the server stops
    from playwright.async_api import async_playwright

    from tests.test_console_browser import CHROMIUM, CHROMIUM_ARGS
    if not CHROMIUM.exists():
        pytest.skip(f"browser tests need chromium at {CHROMIUM} (CI installs it)")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            await browser.close()


async def test_faq_answer_with_markup_is_shown_as_text_in_the_web_chat(hostile_desk, chromium):
    from playwright.async_api import expect

    from tests.test_console_browser import open_page
    context, page = await open_page(chromium, hostile_desk)
    await page.goto(hostile_desk.url("/chat"))
    await expect(page.locator("#log .msg.bot .bubble")).to_have_count(1)  # the greeting
    await page.locator("#text").fill(QUESTION)
    await page.locator("#text").press("Enter")
    answer = page.locator("#log .msg.bot .bubble").nth(1)
    await expect(answer).to_contain_text(PAYLOAD)  # the answer arrived, markup and all, as text
    assert await page.locator("#log img, #log script, #log [onerror]").count() == 0
    assert await page.evaluate("typeof window.__xss") == "undefined"
    await page.reload()  # and when the page restores the conversation from the server
    await expect(page.locator("#log .msg.bot .bubble").last).to_contain_text(PAYLOAD)
    assert await page.locator("#log img, #log script, #log [onerror]").count() == 0
    assert await page.evaluate("typeof window.__xss") == "undefined"
    assert hostile_desk.problems == []
    await context.close()


async def test_faq_answer_with_markup_is_shown_as_text_in_the_console(hostile_desk, chromium):
    from playwright.async_api import expect

    from tests.test_console_browser import log_in, open_page
    hostile_desk.add_user("张三")
    await hostile_desk.rider_says(QUESTION, openid="o_rider_faq")
    await hostile_desk.rider_says("转人工", openid="o_rider_faq")
    cid = await hostile_desk.conversation_of("o_rider_faq")
    context, page = await open_page(chromium, hostile_desk)
    await log_in(page, hostile_desk, "张三", f"/console/conversations/{cid}")
    answer = page.locator("#transcript .msg.bot .bubble").first
    await expect(answer).to_contain_text(PAYLOAD)
    assert await page.locator("main img, main script, main [onerror]").count() == 0
    assert await page.evaluate("typeof window.__xss") == "undefined"
    assert hostile_desk.problems == []
    await context.close()


# Bodies that once ended in a 500 with a traceback, no log-in needed for some of them:
# nesting that made json.loads raise RecursionError, and a lone surrogate that could not be
# stored (UnicodeEncodeError). Every field name any write reads, so each handler meets them.
FIELDS = ("text", "note", "name", "to", "message", "question", "password", "role", "status", "id",
          "title", "answer", "reason", "version", "entry", "example", "referred_to")
HOSTILE_BODIES = {
    "deep nesting": b"[" * 15000,  # under every body limit, so the parser meets it
    "deep nesting in a field": b'{"text": ' + b"[" * 15000,
    "lone surrogate": ("{" + ", ".join(f'"{f}": "\\ud800"' for f in FIELDS) + "}").encode(),
}


async def test_every_json_write_answers_hostile_bodies_without_a_500(client, console, caplog):
    admin = await console("boss", role="admin")
    writes = [(m, p) for m, p, permission in guarded(client.app)
              if m in UNSAFE and permission is not None and p != "/console/logout"]
    writes += [("POST", "/chat/api/messages")]
    for method, path in writes:
        for name, body in HOSTILE_BODIES.items():
            async with admin.session.request(method, admin.base + path, data=body, allow_redirects=False, headers={
                    "X-CSRF-Token": admin.csrf, "Content-Type": "application/json"}) as resp:
                assert resp.status < 500, (name, method, path, resp.status, await resp.text())
                assert resp.status not in (401, 403), (name, method, path)  # the handler itself answered
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


async def test_every_read_and_the_log_in_form_take_broken_percent_escapes_without_a_500(client, console, caplog):
    # %ED%A0%80 is a lone surrogate in UTF-8 form, %FF no UTF-8 at all.
    admin = await console("boss", role="admin")
    query = "&".join(f"{f}=%ED%A0%80%FF" for f in ("q", "city", "platform", "assigned_to", "status", "from",
                                                 "to", "after", "kind", "next", "entry", "days"))
    for method, path, _ in guarded(client.app):
        if method == "GET" and path != "/api/events":
            async with admin.session.get(f"{admin.base}{path}?{query}", allow_redirects=False) as resp:
                assert resp.status < 500, (path, resp.status)
    async with aiohttp.ClientSession() as anonymous:
        form = "name=%ED%A0%80&password=%ED%A0%80xxxxxxxxxx&csrf=%ED%A0%80&next=%ED%A0%80"
        async with anonymous.post(client.make_url("/console/login"), data=form.encode(),
                                  headers={"Content-Type": "application/x-www-form-urlencoded",
                                           "Cookie": "gigdesk_login=%ED%A0%80"}) as resp:
            assert resp.status < 500
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


@pytest.mark.parametrize("header", [b"X-Note: a\x00b", b"X-Note: a\rb", b"X-" + b"n" * 9000 + b": 1"],
                         ids=["nul", "bare-cr", "too-long"])
async def test_a_malformed_request_gets_a_400_and_one_warning_line_no_traceback(aiohttp_server, settings,
                                                                                 caplog, header):
    """Bytes any client can send that are not HTTP: aiohttp answers 400, and the log gets one
    WARNING line without the bytes, not an ERROR with a traceback."""
    import asyncio
    import logging
    server = await aiohttp_server(create_app(settings))
    caplog.set_level(logging.DEBUG)
    reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + header + b"\r\n\r\n")
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readline(), 10)
    writer.close()
    assert status_line.split()[1:2] == [b"400"], status_line
    await asyncio.sleep(0.1)
    server_lines = [r for r in caplog.records if r.name == "aiohttp.server"]
    assert [r.levelname for r in server_lines] == ["WARNING"], [r.getMessage() for r in server_lines]
    assert server_lines[0].exc_info is None and "malformed HTTP request" in server_lines[0].getMessage()
    assert "\x00" not in server_lines[0].getMessage() and "nnnn" not in server_lines[0].getMessage()
