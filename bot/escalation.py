"""Conversations nobody has picked up in time are escalated: marked (the console shows them
red) and, where a WeCom group-robot webhook is configured, announced to the group.

The notice carries no rider content, only how many wait, for how long and a link: a group
chat is not the place for a rider's troubles."""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import aiohttp

from storage import AsyncStore

log = logging.getLogger("gigdesk.escalation")
REASONS = {"asked": "要求人工", "urgent": "紧急", "misses": "机器人答不上", "topic": "需要人工的问题"}


class Escalator:
    def __init__(self, store: AsyncStore, after_minutes: float, urgent_after_minutes: float,
                 session: aiohttp.ClientSession | None = None, webhook_url: str = "", console_url: str = "",
                 union_name: str = "工会", on_change: Callable[[], None] = lambda: None, interval: float = 20.0):
        self.store = store
        self.after = after_minutes * 60
        self.urgent_after = urgent_after_minutes * 60
        self.session = session
        self.webhook_url = webhook_url
        self.console_url = console_url.rstrip("/")
        self.union_name = union_name
        self.on_change = on_change
        self.interval = interval

    async def run(self) -> None:
        while True:
            try:
                await self.check_once()
            except Exception:  # a hiccup must not end escalation for the rest of the day
                log.exception("escalation check failed")
            await asyncio.sleep(self.interval)

    async def check_once(self) -> list[dict]:
        now = time.time()

        def mark() -> list[dict]:
            store = self.store.store
            # Most checks find nobody overdue: they take no transaction (nor SQLite's write lock).
            if not store.overdue_waiting(now, self.after, self.urgent_after):
                return []
            marked = []
            with store.transaction():
                for conversation in store.overdue_waiting(now, self.after, self.urgent_after):
                    # Another worker or instance may be marking the same ones: each is announced once.
                    if store.mark_escalated(conversation["id"], now):
                        marked.append(conversation)
                        store.audit("system", "escalate", f"conversation:{conversation['id']}", now,
                                    urgent=conversation["urgent"])
            return marked
        overdue = await self.store.run(mark)
        if overdue:
            self.on_change()
            await self._announce(overdue, now)
        return overdue

    def notice(self, overdue: list[dict], now: float) -> str:
        lines = [f"【{self.union_name}求助台】{len(overdue)} 个会话等待超时，没有人接手："]
        for c in overdue:
            minutes = int((now - c["waiting_since"]) // 60)
            lines.append(f"· 会话 #{c['id']}（{'紧急' if c['urgent'] else REASONS.get(c['reason'], '等待人工')}）"
                         f"已等 {minutes} 分钟")
        if self.console_url:
            lines.append(f"请尽快处理：{self.console_url}/console")
        return "\n".join(lines)

    async def _announce(self, overdue: list[dict], now: float) -> None:
        if not (self.webhook_url and self.session):
            return
        body = {"msgtype": "text", "text": {"content": self.notice(overdue, now)}}
        try:
            async with self.session.post(self.webhook_url, json=body, timeout=aiohttp.ClientTimeout(total=10)) as r:
                answer = await r.json(content_type=None)
                if r.status != 200 or not isinstance(answer, dict) or answer.get("errcode"):
                    log.error("WeCom notice refused: HTTP %s %s", r.status, str(answer)[:200])
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError, OSError) as exc:
            # The console still shows them red; the next escalation will try the group again.
            log.error("WeCom notice failed: %r", exc)
