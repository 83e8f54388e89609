"""The console's JSON API under /api: everything the console pages do, for other tools too.
Documented in the README. Every handler declares the permission it needs (see auth.requires).
Texts are returned as data; the pages put them into the DOM as text, never as HTML."""
from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from bot.console.auth import (STAFF, PasswordChecks, PasswordError, Staff, account_name_problem,
                              handles_conversations, requires)
from bot.console.casework import MAX_NOTE_CHARS, Casework, Refusal, conversation_view
from bot.console.live import Hub, stream
from bot.httputil import BadRequest, json_error, parse_id, read_json_object, text_field
from bot.outbox import TemplateNotice
from bot.settings import Settings
from storage import AsyncStore
from storage.accounts import ROLES
from storage.casework import MESSAGES_PER_RIDER_MESSAGE, WINDOW_SECONDS

log = logging.getLogger("gigdesk.console")
WINDOW_WARNING_SECONDS = 4 * 3600  # warn when less than this is left of the 48 hours
NAME_CHARS = 32
MAX_STREAMS_PER_ACCOUNT = 8  # a caseworker with several tabs open; not a script opening hundreds


def rider_label(rider: dict[str, Any]) -> str:
    """Enough to tell riders apart on a shift, without showing the whole openid."""
    if rider["openid"].startswith("terminal-"):  # gigdesk chat --keep
        return f"终端测试 …{rider['openid'][-6:]}"
    kind = "微信" if rider["channel"] == "wechat" else "网页"
    return f"{kind}用户 …{rider['openid'][-6:]}"


def path_id(request: web.Request, missing: str = "没有这个会话") -> int:
    found = parse_id(request.match_info["id"], max_digits=12)
    if found is None:
        raise BadRequest(404, missing)
    return found


def limits(rider: dict[str, Any], used: int, now: float, template: bool) -> dict[str, Any]:
    """WeChat's 48-hour window and 5-message quota as a caseworker needs to see them."""
    if rider["channel"] != "wechat":
        return {"channel": rider["channel"], "warning": None}
    last = rider["last_message_at"] or 0
    closes_at = last + WINDOW_SECONDS
    left = max(MESSAGES_PER_RIDER_MESSAGE - used, 0)
    warning = None
    if now >= closes_at:
        warning = ("已超过48小时回复时限：现在发的回复会先保存，骑手再发消息后自动送出"
                   + ("；同时会给骑手发一条模板通知" if template else "。"))
    elif not rider["subscribed"]:
        warning = "骑手已取消关注公众号，回复无法送达"
    elif left == 0:
        warning = "本轮5条回复已用完：再发的回复会先保存，骑手再发消息后自动送出"
    elif closes_at - now < WINDOW_WARNING_SECONDS:
        warning = f"48小时回复时限还剩 {int((closes_at - now) // 3600)} 小时 {int((closes_at - now) % 3600 // 60)} 分"
    elif left <= 1:
        warning = f"本轮还能回复 {left} 条（骑手每发一条消息，最多回复5条）"
    return {"channel": "wechat", "window_closes_at": closes_at, "window_open": now < closes_at,
            "used": used, "left": left, "subscribed": bool(rider["subscribed"]), "warning": warning}


def message_view(row: dict[str, Any]) -> dict[str, Any]:
    delivery = None
    if row.get("outbox_id"):
        delivery = {"outbox_id": row["outbox_id"], "state": row["delivery"], "error": row["delivery_error"],
                    "attempts": row["delivery_attempts"]}
    return {"id": row["id"], "direction": row["direction"], "sender": row["sender"], "kind": row["kind"],
            "text": row["text"], "intent": row["intent"], "score": row["score"], "outcome": row["outcome"],
            "at": row["created_at"], "delivery": delivery}


@dataclass
class ConsoleAPI:
    settings: Settings
    store: AsyncStore
    casework: Casework
    hub: Hub
    passwords: PasswordChecks  # argon2 on its own threads, as for log-ins
    template: TemplateNotice | None = None
    _streams: Counter[int] = field(default_factory=Counter)  # open event streams per account

    # --- who am I ----------------------------------------------------------------------------
    @requires("signed_in")
    async def me(self, request: web.Request) -> web.Response:
        staff: Staff = request[STAFF]
        return web.json_response({"name": staff.name, "role": staff.role, "csrf": staff.csrf,
                                  "can": sorted(p for p in ("conversations", "faq", "users") if staff.can(p))})

    # --- the queue ---------------------------------------------------------------------------
    @requires("conversations")
    async def queue(self, request: web.Request) -> web.Response:
        rows = await self.store.run(self.store.store.queue)
        now = time.time()
        after = self.settings.escalate_after_minutes * 60
        urgent_after = self.settings.escalate_urgent_after_minutes * 60
        items = []
        for r in rows:
            since = r["waiting_since"] or r["updated_at"]
            overdue = r["state"] == "waiting" and (
                r["escalated_at"] is not None or now - since >= (urgent_after if r["urgent"] else after))
            items.append({
                "id": r["id"], "state": r["state"], "reason": r["reason"], "urgent": bool(r["urgent"]),
                "assigned_to": r["assigned_to"], "waiting_since": since, "waited_seconds": int(now - since),
                "overdue": overdue, "channel": r["channel"],
                "rider": rider_label({"channel": r["channel"], "openid": r["rider_id"].split(":", 1)[1]}),
                "last_text": (r["last_text"] or "")[:120], "last_at": r["last_in_at"]})
        return web.json_response({"now": now, "conversations": items})

    # --- one conversation --------------------------------------------------------------------
    @requires("conversations")
    async def conversation(self, request: web.Request) -> web.Response:
        cid = path_id(request)
        now = time.time()

        def gather() -> dict[str, Any] | None:
            store = self.store.store
            conversation = store.conversation(cid)
            if conversation is None:
                return None
            rider = store.rider(conversation["rider_id"])
            used = store.customer_messages_used(rider["id"], rider["last_message_at"] or 0)
            return {"conversation": conversation, "rider": rider, "used": used,
                    "messages": store.transcript(cid), "notes": store.notes(cid),
                    "history": store.rider_conversations(rider["id"])}
        data = await self.store.run(gather)
        if data is None:
            return json_error(404, "没有这个会话")
        c, rider = data["conversation"], data["rider"]
        staff: Staff = request[STAFF]
        return web.json_response({
            "conversation": conversation_view(c, staff.name),
            "rider": {"label": rider_label(rider), "channel": rider["channel"],
                      "first_seen_at": rider["first_seen_at"], "last_message_at": rider["last_message_at"]},
            "limits": limits(rider, data["used"], now, self.template is not None),
            "messages": [message_view(m) for m in data["messages"]],
            "notes": [{"id": n["id"], "author": n["author"], "text": n["text"], "at": n["created_at"]}
                      for n in data["notes"]],
            "history": [{"id": h["id"], "state": h["state"], "reason": h["reason"], "urgent": bool(h["urgent"]),
                         "assigned_to": h["assigned_to"], "created_at": h["created_at"],
                         "closed_at": h["closed_at"], "messages": h["message_count"]}
                        for h in data["history"] if h["id"] != cid],
        })

    @requires("conversations")
    async def messages_after(self, request: web.Request) -> web.Response:
        cid = path_id(request)
        after = parse_id(request.query.get("after", "0"))
        if after is None:
            return json_error(400, "after 应当是消息编号")
        rows = await self.store.run(self.store.store.transcript, cid, after)
        return web.json_response({"messages": [message_view(m) for m in rows]})

    # --- actions -----------------------------------------------------------------------------
    @requires("conversations")
    async def claim(self, request: web.Request) -> web.Response:
        return await self._act(request, lambda staff, cid, data: self.casework.claim(staff, cid), body=False)

    @requires("conversations")
    async def release(self, request: web.Request) -> web.Response:
        return await self._act(request, lambda staff, cid, data: self.casework.release(staff, cid), body=False)

    @requires("conversations")
    async def close(self, request: web.Request) -> web.Response:
        return await self._act(request, lambda staff, cid, data: self.casework.close(staff, cid), body=False)

    @requires("conversations")
    async def transfer(self, request: web.Request) -> web.Response:
        return await self._act(request, lambda staff, cid, data: self.casework.transfer(
            staff, cid, text_field(data, "to", NAME_CHARS)))

    @requires("conversations")
    async def reply(self, request: web.Request) -> web.Response:
        return await self._act(request, lambda staff, cid, data: self.casework.reply(
            staff, cid, text_field(data, "text", 2048)))

    @requires("conversations")
    async def note(self, request: web.Request) -> web.Response:
        return await self._act(request, lambda staff, cid, data: self.casework.note(
            staff, cid, text_field(data, "text", MAX_NOTE_CHARS)))

    @requires("conversations")
    async def retry(self, request: web.Request) -> web.Response:
        return await self._act(request, lambda staff, oid, data: self.casework.retry(staff, oid), body=False)

    async def _act(self, request: web.Request, action, body: bool = True) -> web.Response:
        try:
            target = path_id(request, "没有这条记录")
            data = await read_json_object(request) if body else {}
            result = await action(request[STAFF], target, data)
        except BadRequest as bad:
            return bad.response()
        except Refusal as refusal:
            return json_error(refusal.status, refusal.message, **refusal.detail)
        return web.json_response(result)

    # --- helpers for the page ------------------------------------------------------------------
    @requires("conversations")
    async def canned(self, request: web.Request) -> web.Response:
        return web.json_response({"replies": load_canned(Path(self.settings.knowledge_dir) / "canned.yaml")})

    @requires("conversations")
    async def colleagues(self, request: web.Request) -> web.Response:
        users = await self.store.run(self.store.store.users)
        return web.json_response({"colleagues": [u["name"] for u in users if handles_conversations(u)]})

    @requires("conversations")
    async def events(self, request: web.Request) -> web.StreamResponse:
        staff: Staff = request[STAFF]
        if self._streams[staff.user_id] >= MAX_STREAMS_PER_ACCOUNT:
            return json_error(429, f"这个账号已经打开了 {MAX_STREAMS_PER_ACCOUNT} 个实时页面，请关掉一些再试")

        async def still_signed_in() -> bool:
            return await self.store.run(self.store.store.session_user, staff.token_hash, time.time()) is not None
        self._streams[staff.user_id] += 1
        try:
            return await stream(request, self.hub, still_signed_in)
        finally:
            self._streams[staff.user_id] -= 1
            if not self._streams[staff.user_id]:
                del self._streams[staff.user_id]

    # --- accounts (admin) ----------------------------------------------------------------------
    @requires("users")
    async def users(self, request: web.Request) -> web.Response:
        rows = await self.store.run(self.store.store.users)
        return web.json_response({"users": [{"id": u["id"], "name": u["name"], "role": u["role"],
                                             "active": bool(u["active"]), "last_login_at": u["last_login_at"]}
                                            for u in rows], "roles": list(ROLES)})

    @requires("users")
    async def add_user(self, request: web.Request) -> web.Response:
        try:
            data = await read_json_object(request)
            name = text_field(data, "name", NAME_CHARS)
            if problem := account_name_problem(name, []):
                raise BadRequest(400, problem)
            role = text_field(data, "role", 16)
            password = data.get("password")
            if role not in ROLES:
                raise BadRequest(400, f"角色只能是 {'、'.join(ROLES)}")
            if not isinstance(password, str):
                raise BadRequest(400, "password 必须是文字")
            hashed = await self.passwords.hash(password)
        except BadRequest as bad:
            return bad.response()
        except PasswordError as exc:
            return json_error(400, str(exc))
        staff: Staff = request[STAFF]

        def add() -> int | None:
            store = self.store.store
            with store.transaction():
                if account_name_problem(name, [u["name"] for u in store.users()]):
                    return None
                user_id = store.add_user(name, role, hashed, time.time())
                store.audit(staff.name, "user_add", f"user:{name}", time.time(), role=role)
                return user_id
        user_id = await self.store.run(add)
        if user_id is None:
            return json_error(409, f"已经有叫“{name}”的账号（不分大小写）")
        return web.json_response({"id": user_id, "name": name, "role": role}, status=201)

    @requires("users")
    async def update_user(self, request: web.Request) -> web.Response:
        """Disable or enable an account, or change its role; the person is logged out everywhere."""
        staff: Staff = request[STAFF]
        try:
            data = await read_json_object(request)
            user_id = path_id(request, "没有这个账号")
            fields: dict[str, Any] = {}
            if "active" in data:
                if not isinstance(data["active"], bool):
                    raise BadRequest(400, "active 应当是 true 或 false")
                fields["active"] = int(data["active"])
            if "role" in data:
                if data["role"] not in ROLES:
                    raise BadRequest(400, f"角色只能是 {'、'.join(ROLES)}")
                fields["role"] = data["role"]
            if not fields:
                raise BadRequest(400, "没有要改的内容（active 或 role）")
            if user_id == staff.user_id:
                raise BadRequest(400, "不能停用或降级自己的账号")
        except BadRequest as bad:
            return bad.response()

        def update() -> bool:
            store = self.store.store
            with store.transaction():
                user = store.user(user_id)
                if user is None:
                    return False
                store.update_user(user_id, **fields)  # also logs the person out everywhere
                store.audit(staff.name, "user_update", f"user:{user['name']}", time.time(), **fields)
                return True
        if not await self.store.run(update):
            return json_error(404, "没有这个账号")
        self.hub.changed()  # open event streams re-check their sessions now, not in 15 s
        return web.json_response({"id": user_id, **fields})

    @requires("users")
    async def audit(self, request: web.Request) -> web.Response:
        before = request.query.get("before")
        if before is not None and parse_id(before, max_digits=17) is None:
            return json_error(400, "before 应当是记录编号")
        rows = await self.store.run(self.store.store.audit_log, 200, parse_id(before))
        return web.json_response({"entries": rows})


def load_canned(path: Path) -> list[dict[str, str]]:
    """Canned replies from knowledge/canned.yaml; a broken file gives none, and a log line."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else None
    except (yaml.YAMLError, UnicodeDecodeError, OSError) as exc:
        log.error("canned replies in %s cannot be read: %s", path, exc)
        return []
    replies = data.get("replies") if isinstance(data, dict) else None
    return [{"title": str(r["title"]), "text": str(r["text"]).strip()} for r in replies or []
            if isinstance(r, dict) and r.get("title") and r.get("text")]
