"""Messages sent later through WeChat's customer-service API, from a persisted queue.

A queued message is retried with backoff while WeChat is busy or unreachable (-1, 45009,
network errors, timeouts) and given up with its reason when WeChat says it can never be
delivered (45015 window closed, 45047 quota used up, 43004 unsubscribed, ...). The queue
lives in SQLite, so a restart resumes it."""
from __future__ import annotations

import asyncio
import logging
import time

import aiohttp

from bot.wechat_api import WeChatAPI, WeChatAPIError
from storage import AsyncStore

log = logging.getLogger("gigdesk.outbox")

RETRYABLE = {-1, 45009}  # WeChat busy / rate limited: back off and try again
MAX_ATTEMPTS = 8
MAX_BACKOFF = 300.0
REASONS = {  # what the console shows, in plain words
    45015: "超过48小时回复时限（或对方已取消关注），无法发送",
    45047: "对方一条消息后最多回复5条，已用完，等骑手再发消息后才能发",
    43004: "对方未关注公众号，无法发送",
    45002: "内容太长",
    -1: "微信系统繁忙",
    45009: "微信接口调用超过频率限制",
}


def backoff(attempts: int, base: float) -> float:
    return min(base * (2 ** (attempts - 1)), MAX_BACKOFF)


class Outbox:
    def __init__(self, store: AsyncStore, api: WeChatAPI | None = None, base_delay: float = 2.0):
        self.store = store
        self.api = api
        self.base_delay = base_delay
        self._wake = asyncio.Event()

    async def enqueue(self, rider_id: str, openid: str, text: str, message_id: int | None = None) -> int:
        item_id = await self.store.run(self.store.store.enqueue_outbox, rider_id, openid, text, message_id,
                                       time.time())
        self._wake.set()
        return item_id

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Deliver due messages until cancelled; sleeps until the next one is due or a new one arrives."""
        while True:
            try:
                await self.deliver_due()
                next_at = await self.store.run(self.store.store.next_outbox_time)
            except Exception:  # a broken row or database hiccup must not stop the outbox
                log.exception("outbox pass failed")
                next_at = time.time() + self.base_delay
            wait = 60.0 if next_at is None else max(0.0, next_at - time.time())
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), wait)
            except asyncio.TimeoutError:
                pass

    async def deliver_due(self) -> int:
        items = await self.store.run(self.store.store.due_outbox, time.time())
        for item in items:
            await self._deliver(item)
        return len(items)

    async def _deliver(self, item: dict) -> None:
        store = self.store.store
        attempts = item["attempts"] + 1
        if self.api is None:
            await self.store.run(lambda: store.update_outbox(
                item["id"], state="failed", attempts=attempts, last_error="未配置 WECHAT_APPID/WECHAT_SECRET"))
            return
        try:
            await self.api.send_text(item["openid"], item["text"])
        except WeChatAPIError as exc:
            await self._failed(item, attempts, exc.code, REASONS.get(exc.code, f"微信错误 {exc.code}：{exc.message}"),
                               retry=exc.code in RETRYABLE)
            return
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            await self._failed(item, attempts, None, f"连不上微信：{type(exc).__name__}", retry=True)
            return
        now = time.time()
        await self.store.run(lambda: store.update_outbox(item["id"], state="sent", attempts=attempts,
                                                         sent_at=now, last_error=None))

    async def _failed(self, item: dict, attempts: int, code: int | None, reason: str, retry: bool) -> None:
        store = self.store.store
        if retry and attempts < MAX_ATTEMPTS:
            next_at = time.time() + backoff(attempts, self.base_delay)
            log.warning("outbox %s: %s; retry %d in %.0fs", item["id"], reason, attempts, next_at - time.time())
            await self.store.run(lambda: store.update_outbox(item["id"], attempts=attempts, last_error=reason,
                                                             next_attempt_at=next_at))
        else:
            log.error("outbox %s to %s failed for good: %s", item["id"], item["rider_id"], reason)
            await self.store.run(lambda: store.update_outbox(item["id"], state="failed", attempts=attempts,
                                                             last_error=reason))
