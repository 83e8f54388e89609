"""The console's HTML pages: log-in and log-out as plain forms (they work without JavaScript),
and page shells that console.js fills from the JSON API."""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

import jinja2
from aiohttp import web

from bot.console.auth import STAFF, Auth, Staff, Throttled, public, requires, safe_next
from bot.httputil import parse_id, same_origin, same_secret
from bot.reloader import KnowledgeWatcher
from knowledge.check import REVIEW_MAX_AGE_DAYS

HERE = Path(__file__).resolve().parent
LOGIN_CSRF_COOKIE = "gigdesk_login"
MAX_LOGIN_FIELD = 1024
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",  # transcripts must not linger in a shared computer's cache
}


def templates() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True)


@dataclass
class Pages:
    auth: Auth
    env: jinja2.Environment
    watcher: KnowledgeWatcher
    union_name: str

    def render(self, name: str, status: int = 200, staff: Staff | None = None, **context) -> web.Response:
        html = self.env.get_template(name).render(staff=staff, union_name=self.union_name, **context)
        return web.Response(text=html, status=status, content_type="text/html", headers=SECURITY_HEADERS)

    # --- log-in ------------------------------------------------------------------------------
    @public
    async def login_form(self, request: web.Request) -> web.Response:
        return self._login_page(request, safe_next(request.query.get("next")))

    @public
    async def login(self, request: web.Request) -> web.Response:
        form = await request.post()
        fields = {k: form.get(k) for k in ("name", "password", "csrf", "next")}
        if any(not isinstance(v, str) or len(v) > MAX_LOGIN_FIELD for v in fields.values()):
            return self._login_page(request, "/console", "请填写用户名和密码", status=400)
        target = safe_next(fields["next"])
        cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
        if not (same_origin(request) and cookie and same_secret(cookie, fields["csrf"])):
            return self._login_page(request, target, "页面已过期，请再登录一次", status=403)
        result = await self.auth.log_in(fields["name"].strip(), fields["password"], request.remote or "?")
        if isinstance(result, Throttled):
            minutes = int(result // 60) + 1
            return self._login_page(request, target, f"尝试次数太多，请 {minutes} 分钟后再试", status=429)
        if result is None:
            return self._login_page(request, target, "用户名或密码不对", status=401)
        previous = await self.auth.staff(request)
        if previous is not None:  # whatever session the browser had before is ended
            await self.auth.log_out(previous)
        response = web.HTTPSeeOther(target)
        self.auth.set_cookie(response, result)
        response.del_cookie(LOGIN_CSRF_COOKIE, path="/console/login")
        raise response

    def _login_page(self, request: web.Request, target: str, error: str = "", status: int = 200) -> web.Response:
        token = secrets.token_urlsafe(24)
        response = self.render("login.html", status=status, csrf=token, next=target, error=error)
        response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="Strict", path="/console/login",
                            secure=self.auth.secure_cookies)
        return response

    @requires("signed_in")
    async def logout(self, request: web.Request) -> web.Response:
        await self.auth.log_out(request[STAFF])
        response = web.HTTPSeeOther("/console/login")
        self.auth.clear_cookie(response)
        raise response

    # --- pages -------------------------------------------------------------------------------
    @requires("signed_in")
    async def home(self, request: web.Request) -> web.Response:
        staff: Staff = request[STAFF]
        raise web.HTTPFound("/console/queue" if staff.can("conversations") else "/console/knowledge")

    @requires("conversations")
    async def queue(self, request: web.Request) -> web.Response:
        return self.render("queue.html", staff=request[STAFF])

    @requires("conversations")
    async def conversation(self, request: web.Request) -> web.Response:
        return self.render("conversation.html", staff=request[STAFF],
                           conversation_id=_page_id(request, "没有这个会话"))

    @requires("conversations")
    async def cases(self, request: web.Request) -> web.Response:
        return self.render("cases.html", staff=request[STAFF])

    @requires("conversations")
    async def case(self, request: web.Request) -> web.Response:
        return self.render("case.html", staff=request[STAFF], case_id=_page_id(request, "没有这个登记"))

    @requires("users")
    async def users(self, request: web.Request) -> web.Response:
        return self.render("users.html", staff=request[STAFF])

    @requires("faq")
    async def knowledge(self, request: web.Request) -> web.Response:
        """What the running server made of the FAQ files (the last reload's problems, if any),
        and the list of entries to open for editing (faq_list.js fills it from the API)."""
        return self.render("knowledge.html", staff=request[STAFF], problems=self.watcher.problems,
                           entries=len(self.watcher.engine.brain.kb.entries), review_days=REVIEW_MAX_AGE_DAYS)


def _page_id(request: web.Request, missing: str) -> int:
    found = parse_id(request.match_info["id"], max_digits=12)
    if found is None:
        raise web.HTTPNotFound(text=missing)
    return found
