"""Who may do what in the console: every route guarded, roles, CSRF, log-in rate limit,
sessions that cannot be fixed or outlive a log-out, and no open redirect."""
from __future__ import annotations

import re

import pytest

from bot.app import STORE
from tests.conftest import PASSWORD, Console, add_user, send_text

pytestmark = pytest.mark.both_backends

# Every route refusing anonymous and wrong-role requests is proved by enumeration in
# tests/test_security.py.


async def test_a_route_without_a_declared_permission_is_refused(client, console):
    async def forgot(request):  # a handler someone added without @requires
        raise AssertionError("must not run")

    client.app.router._frozen = False
    client.app.router.add_get("/api/forgotten", forgot)
    admin = await console("boss", role="admin")
    status, body = await admin.get("/api/forgotten")
    assert status == 403


async def test_roles(client, console):
    caseworker, editor, admin = await console("li"), await console("ed", role="editor"), \
        await console("boss", role="admin")
    for path in ("/api/users", "/api/audit"):
        assert (await caseworker.get(path))[0] == 403
        assert (await editor.get(path))[0] == 403
        assert (await admin.get(path))[0] == 200
    status, _ = await caseworker.post("/api/users", {"name": "x", "role": "admin", "password": PASSWORD})
    assert status == 403
    assert client.app[STORE].store.user_by_name("x") is None
    assert (await editor.get("/api/queue"))[0] == 403
    assert (await caseworker.get("/api/queue"))[0] == 200
    async with caseworker.session.get(caseworker.base + "/console/users") as page:
        assert page.status == 403
    async with editor.session.get(editor.base + "/console", allow_redirects=False) as page:
        assert page.headers["Location"] == "/console/knowledge"


async def test_admin_manages_accounts_and_a_disabled_account_is_logged_out(client, console):
    admin = await console("boss", role="admin")
    status, body = await admin.post("/api/users", {"name": "zhao", "role": "caseworker", "password": "short"})
    assert status == 400 and "10" in body["error"]
    status, body = await admin.post("/api/users", {"name": "zhao", "role": "caseworker", "password": PASSWORD})
    assert status == 201
    stored = client.app[STORE].store.user_by_name("zhao")
    assert stored["password_hash"].startswith("$argon2id$") and PASSWORD not in stored["password_hash"]
    zhao = Console(str(client.make_url("")))
    assert await zhao.log_in("zhao") == 303
    assert (await zhao.get("/api/queue"))[0] == 200
    status, _ = await admin.post(f"/api/users/{body['id']}", {"active": False})
    assert status == 200
    assert (await zhao.get("/api/queue"))[0] == 401  # the open session ended at once
    assert await zhao.log_in("zhao") == 401
    await zhao.close()


async def test_writes_need_the_csrf_token_and_our_origin(client, console):
    await send_text(client, "转人工", openid="o_csrf")
    li = await console("li")
    _, queue = await li.get("/api/queue")
    cid = queue["conversations"][0]["id"]
    status, body = await li.post(f"/api/conversations/{cid}/claim", headers={"X-CSRF-Token": "forged"})
    assert status == 403 and "CSRF" in body["error"]
    status, _ = await li.post(f"/api/conversations/{cid}/claim", headers={"Origin": "https://evil.example"})
    assert status == 403
    # a cross-site form post carries the cookie (SameSite=Lax allows top-level POST? no, but old
    # browsers do) and no token: refused
    async with li.session.post(li.base + f"/api/conversations/{cid}/claim", data={"x": "1"}) as resp:
        assert resp.status == 403
    assert client.app[STORE].store.conversation(cid)["state"] == "waiting"
    async with li.session.post(li.base + "/console/logout", data={}, allow_redirects=False) as resp:
        assert resp.status == 403  # log-out too: no forced log-out from another site
    assert (await li.get("/api/me"))[0] == 200


async def test_login_form_needs_its_own_token(client):
    add_user(client.app, "li")
    resp = await client.post("/console/login", data={"name": "li", "password": PASSWORD, "csrf": "x",
                                                     "next": "/console"}, allow_redirects=False)
    assert resp.status == 403 and "gigdesk_console" not in resp.cookies


async def test_login_rate_limit(client):
    add_user(client.app, "li")
    add_user(client.app, "wang")
    attacker = Console(str(client.make_url("")))
    for _ in range(5):
        assert await attacker.log_in("li", "wrong password!") == 401
    assert await attacker.log_in("li") == 429  # even the right password waits now
    assert "分钟后再试" in attacker.page
    await attacker.close()
    audit = client.app[STORE].store.audit_log()
    assert sum(1 for e in audit if e["action"] == "login_failed") == 5


async def test_session_is_new_at_login_and_dead_after_logout(client):
    add_user(client.app, "li")
    c = Console(str(client.make_url("")))
    c.session.cookie_jar.update_cookies({"gigdesk_console": "planted-by-attacker"}, client.make_url("/"))
    await c.log_in("li")
    token = next(m.value for m in c.session.cookie_jar if m.key == "gigdesk_console")
    assert token != "planted-by-attacker" and len(token) >= 40
    stored = [row["token_hash"] for row in client.app[STORE].store.db["sessions"].rows]
    assert token not in stored  # only its hash is kept
    async with c.session.post(c.base + "/console/logout", data={"csrf": c.csrf}, allow_redirects=False) as resp:
        assert resp.status == 303
    other = Console(str(client.make_url("")))
    other.session.cookie_jar.update_cookies({"gigdesk_console": token}, client.make_url("/"))
    assert (await other.get("/api/me"))[0] == 401  # a copied cookie is worthless after log-out
    await c.close()
    await other.close()


async def test_no_open_redirect_after_login(client):
    add_user(client.app, "li")
    c = Console(str(client.make_url("")))
    async with c.session.get(c.base + "/console/login?next=//evil.example/x") as page:
        html = await page.text()
    assert "evil.example" not in html
    token = re.search(r'name="csrf" value="([^"]+)"', html).group(1)
    async with c.session.post(c.base + "/console/login", allow_redirects=False, data={
            "name": "li", "password": PASSWORD, "csrf": token, "next": "https://evil.example/"}) as resp:
        assert resp.headers["Location"] == "/console"
    await c.close()


async def test_pages_carry_a_strict_content_security_policy(client, console):
    await send_text(client, "<script>alert(1)</script>转人工", openid="o_xss")
    li = await console("li")
    _, queue = await li.get("/api/queue")
    cid = queue["conversations"][0]["id"]
    async with li.session.get(li.base + f"/console/conversations/{cid}") as page:
        html = await page.text()
        csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert "<script>alert(1)" not in html  # rider text never goes into the page's HTML
    status, data = await li.get(f"/api/conversations/{cid}")
    assert data["messages"][0]["text"] == "<script>alert(1)</script>转人工"  # kept exactly, as data


async def test_bad_ids_and_bodies_get_clear_answers(client, console):
    li = await console("li")
    assert (await li.get("/api/conversations/abc"))[0] == 404
    assert (await li.get("/api/conversations/99999"))[0] == 404
    assert (await li.get("/api/conversations/1/messages?after=x"))[0] == 400
    status, body = await li.post("/api/conversations/99999/claim")
    assert status == 404 and body["error"]
    async with li.session.post(li.base + "/api/conversations/1/notes", data="not json",
                               headers={"X-CSRF-Token": li.csrf, "Content-Type": "application/json"}) as resp:
        assert resp.status == 400
    status, body = await li.post("/api/conversations/1/notes", {"text": 5})
    assert status == 400



async def test_the_login_limit_counts_the_address_behind_a_trusted_proxy(aiohttp_client, settings):
    # Behind nginx every request comes from 127.0.0.1: without trusted_proxy, five wrong
    # passwords from one person would lock out every colleague. X-Real-IP counts only from the proxy.
    from bot.app import create_app

    client = await aiohttp_client(create_app(settings.with_overrides(trusted_proxy="127.0.0.1")))
    add_user(client.app, "wang", "caseworker")

    async def log_in(name: str, password: str, address: str) -> int:
        headers = {"X-Real-IP": address}
        page = await (await client.get("/console/login", headers=headers)).text()
        token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
        form = {"name": name, "password": password, "csrf": token, "next": "/console/queue"}
        return (await client.post("/console/login", data=form, headers=headers, allow_redirects=False)).status

    for n in range(5):  # five different names, so only the address limit is reached
        assert await log_in(f"guess{n}", "wrong", "203.0.113.7") == 401
    assert await log_in("wang", PASSWORD, "203.0.113.7") == 429  # that address is locked
    assert await log_in("wang", PASSWORD, "198.51.100.9") == 303  # a colleague elsewhere is not
    assert (await client.get("/console/login", headers={"X-Real-IP": "not-an-ip"})).status == 400
