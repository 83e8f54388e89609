"""A WeChat-style web chat at /chat over a small JSON API, served by the same engine, so staff
and new users can talk to the bot without a WeChat account.

The visitor is known by a random id in an HttpOnly cookie, and stored under a hash of it: the
cookie is a bearer secret, so it never becomes an id that staff, logs or backups see.

Anyone can post here without an account, so messages are limited per visitor and per address,
and so are new visitors per address: without that, a script dropping its cookie opened one
waiting (or urgent) conversation per message. Addresses are shared by many phones behind a
carrier's NAT, so their limits are generous; a limited sender is told, with 110/120.

Writes require a JSON body, which a cross-site form cannot send, and a same-origin Origin (or
Referer) header when the browser sends one."""
from __future__ import annotations

import json
import logging
import math
import re
import secrets
import time
from collections.abc import Callable
from collections import OrderedDict
from dataclasses import dataclass, field

import jinja2
from aiohttp import web

from bot.delivery import Deliveries
from bot.conversation import Engine, Inbound
from bot.httputil import BadRequest, json_error, parse_id, parse_json, same_origin
from bot.ratelimit import RateLimit
from stations.geo import wgs84_to_gcj02
from storage import AsyncStore, web_visitor_id

log = logging.getLogger("gigdesk.webchat")
COOKIE = "gigdesk_chat"
# Used with fullmatch: "$" alone would let a trailing newline through.
VISITOR_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")
CLIENT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_TEXT = 1000  # characters; a rider's message is rarely a tenth of this
MAX_BODY = 16384
LOCATION_TEXT = "[我的位置]"
KNOWN_VISITORS = 10000  # visitors remembered as seen, so most messages need no lookup


@dataclass
class WebChat:
    store: AsyncStore
    engine: Engine
    pages: jinja2.Environment
    on_change: Callable[[], None] = lambda: None  # tells open console pages
    per_visitor: RateLimit = field(default_factory=lambda: RateLimit(20, 60.0))
    per_address: RateLimit = field(default_factory=lambda: RateLimit(120, 60.0))
    new_per_address: RateLimit = field(default_factory=lambda: RateLimit(10, 3600.0))
    _seen: OrderedDict[str, None] = field(default_factory=OrderedDict)
    deliveries: Deliveries | None = None  # shared with the WeChat webhook (create_app); else its own

    def __post_init__(self) -> None:
        if self.deliveries is None:
            self.deliveries = Deliveries(self.store, self.engine)

    async def page(self, request: web.Request) -> web.Response:
        # The greeting comes from messages.yaml like every other system message; WeChat's says
        # 欢迎关注 and offers voice, which this page has neither of.
        html = self.pages.get_template("chat.html").render(welcome=self.engine.message("web_welcome"))
        response = web.Response(text=html, content_type="text/html")
        self._visitor(request, response)
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "connect-src 'self'; frame-ancestors 'none'")
        return response

    async def post_message(self, request: web.Request) -> web.Response:
        if request.content_type != "application/json":
            return json_error(415, "请以 JSON 发送：{\"text\": \"…\"}")
        if not same_origin(request):
            return json_error(403, "cross-site request refused")
        if request.content_length is not None and request.content_length > MAX_BODY:
            return json_error(413, "消息太长")
        try:
            data = parse_json(await request.read())
        except BadRequest as bad:
            return bad.response()
        location = data.get("location") if isinstance(data, dict) else None
        if location is not None:
            position = browser_position(location)
            if position is None:
                return json_error(400, "location 应当是 {\"lat\": 纬度, \"lng\": 经度}（WGS-84，浏览器给的坐标）")
            text = LOCATION_TEXT
        else:
            text = data.get("text") if isinstance(data, dict) else None
        if not isinstance(text, str) or not text.strip():
            return json_error(400, "text 必须是非空的文字")
        if len(text) > MAX_TEXT:
            return json_error(413, f"消息太长：最多 {MAX_TEXT} 个字")
        client_id = data.get("client_id")
        if client_id is not None and (not isinstance(client_id, str) or not CLIENT_ID.fullmatch(client_id)):
            return json_error(400, "client_id 只能是字母、数字、-、_")
        response = web.json_response({})
        visitor = web_visitor_id(self._visitor(request, response))
        if not await self._may_post(visitor, request.remote or "?"):
            limited = json_error(429, self.engine.message("web_too_fast"))
            limited.cookies.update(response.cookies)
            return limited
        if location is not None:
            # Stored as words only: the position itself is not kept in the transcript.
            inbound = Inbound("web", visitor, "location", time.time(), text=text,
                              extra={"Location_X": f"{position[0]:.6f}", "Location_Y": f"{position[1]:.6f}"})
        else:
            inbound = Inbound("web", visitor, "text", time.time(), text=text)
        # The client's id makes a re-sent message (flaky mobile network) count once.
        key = f"w:{visitor}:{client_id or secrets.token_hex(8)}"
        outcome = await self.deliveries.deliver(key, inbound)
        if not outcome.retry:
            self.on_change()
        response.text = json.dumps({"reply": outcome.reply_text, "outcome": outcome.reply.outcome
                                    if outcome.reply else None}, ensure_ascii=False)
        return response

    async def _may_post(self, visitor: str, address: str) -> bool:
        now = time.time()
        if visitor not in self._seen:
            known = await self.store.run(self.store.store.rider, f"web:{visitor}")
            if known is None and not self.new_per_address.allow(address, now):
                return False
            self._seen[visitor] = None
            if len(self._seen) > KNOWN_VISITORS:
                self._seen.popitem(last=False)
        return self.per_address.allow(address, now) and self.per_visitor.allow(visitor, now)

    async def get_messages(self, request: web.Request) -> web.Response:
        visitor = request.cookies.get(COOKIE, "")
        if not VISITOR_ID.fullmatch(visitor):
            return web.json_response({"messages": []})
        after = parse_id(request.query.get("after", "0"))
        if after is None:
            return json_error(400, "after must be a message id")
        rows = await self.store.run(self.store.store.rider_messages, f"web:{web_visitor_id(visitor)}", after)
        return web.json_response({"messages": [
            {"id": r["id"], "from": "me" if r["direction"] == "in" else r["sender"] or "bot",
             "text": r["text"] or "", "at": r["created_at"]} for r in rows]})

    @staticmethod
    def _visitor(request: web.Request, response: web.StreamResponse) -> str:
        visitor = request.cookies.get(COOKIE, "")
        if not VISITOR_ID.fullmatch(visitor):
            visitor = secrets.token_urlsafe(18)
        response.set_cookie(COOKIE, visitor, max_age=90 * 24 * 3600, httponly=True, samesite="Lax",
                            secure=request.secure, path="/")
        return visitor


def browser_position(location: object) -> tuple[float, float] | None:
    """The browser's navigator.geolocation position (WGS-84) as Chinese maps and the station
    directory place it (GCJ-02); None for anything that is not a real position."""
    if not isinstance(location, dict):
        return None
    lat, lng = location.get("lat"), location.get("lng")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in (lat, lng)):
        return None
    if not (-90 <= lat <= 90 and -180 <= lng <= 180):
        return None
    return wgs84_to_gcj02(float(lat), float(lng))


def setup(app: web.Application, chat: WebChat) -> None:
    app.router.add_get("/chat", chat.page)
    app.router.add_post("/chat/api/messages", chat.post_message)
    app.router.add_get("/chat/api/messages", chat.get_messages)
