"""Messages sent later through WeChat's customer-service API, from a persisted queue.

A queued message is retried with backoff while WeChat is busy or unreachable (-1, 45009,
network errors, timeouts). A message outside the 48-hour window or over the 5-message quota
(known beforehand, or 45015/45047 from WeChat) is held, not dropped: it goes out when the rider
writes again, and where a template is configured the rider gets a template notice meanwhile.
What can never be delivered (43004 unsubscribed, ...) fails with its reason in plain words.
A rider's texts go out in the order written: a later one waits while an earlier one backs off.
The queue lives in SQLite, so a restart resumes it."""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp

from bot.wechat_api import WeChatAPI, WeChatAPIError
from storage import AsyncStore
from storage.casework import MESSAGES_PER_RIDER_MESSAGE, WINDOW_SECONDS

log = logging.getLogger("gigdesk.outbox")

RETRYABLE = {-1, 45009}  # WeChat busy / rate limited: back off and try again
HOLD = {45015: "window", 45047: "quota"}  # deliverable once the rider writes again
MAX_ATTEMPTS = 8
MAX_BACKOFF = 300.0
REASONS = {  # what the console shows, in plain words
    45015: "超过48小时回复时限（或对方已取消关注），无法发送",
    45047: "对方一条消息后最多回复5条，已用完，等骑手再发消息后才能发",
    43004: "对方未关注公众号，无法发送",
    45002: "内容太长",
    -1: "微信系统繁忙",
    45009: "微信接口调用超过频率限制",
    43101: "对方拒收模板消息",
}
HELD_REASONS = {
    "window": "超过48小时回复时限：骑手再发消息后自动发出",
    "quota": "已回复5条，达到上限：骑手再发消息后自动发出",
}


@dataclass(frozen=True)
class TemplateNotice:
    """The template message that tells a rider outside the window that a reply is waiting."""
    template_id: str
    fields: dict[str, str]
    url: str = ""

    @classmethod
    def from_settings(cls, template_id: str, spec: str, url: str = "") -> "TemplateNotice | None":
        if not template_id:
            return None
        fields = dict(part.split("=", 1) for part in spec.split(";") if "=" in part)
        return cls(template_id, {k.strip(): v.strip() for k, v in fields.items()}, url)


def backoff(attempts: int, base: float) -> float:
    return min(base * (2 ** (attempts - 1)), MAX_BACKOFF)


class Outbox:
    def __init__(self, store: AsyncStore, api: WeChatAPI | None = None, base_delay: float = 2.0,
                 template: TemplateNotice | None = None, on_change: Callable[[], None] = lambda: None):
        self.store = store
        self.api = api
        self.base_delay = base_delay
        self.template = template
        self.on_change = on_change  # the console shows each message's state live
        self._wake = asyncio.Event()
        self.on_result: Callable[[str], None] = lambda result: None  # sent|retry|failed|held, for /metrics
        self._stopping = False
        self._running: asyncio.Future | None = None  # set while run() runs, done when it ends

    async def enqueue(self, rider_id: str, openid: str, text: str, message_id: int | None = None) -> int:
        item_id = await self.store.run(self.store.store.enqueue_outbox, rider_id, openid, text, message_id,
                                       time.time())
        self._wake.set()
        return item_id

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Deliver due messages until cancelled or stopped; sleeps until the next one is due or a
        new one arrives."""
        self._running = asyncio.get_running_loop().create_future()
        try:
            await self._loop()
        finally:
            self._running.set_result(None)

    async def stop(self, timeout: float) -> bool:
        """Let the send in progress finish and be recorded, then stop; True if that took less
        than `timeout` seconds. Cancelling a send mid-call instead could leave a message WeChat
        has delivered marked queued, to be sent twice after a restart. What is still queued
        stays in the database and goes out after the restart."""
        self._stopping = True
        self._wake.set()
        if self._running is None or self._running.done():
            return True
        done, _ = await asyncio.wait([self._running], timeout=timeout)
        return bool(done)

    async def _loop(self) -> None:
        while not self._stopping:
            try:
                await self.deliver_due()
                next_at = await self.store.run(self.store.store.next_outbox_time)
            except Exception:  # a broken row or database hiccup must not stop the outbox
                log.exception("outbox pass failed")
                next_at = time.time() + self.base_delay
            wait = 60.0 if next_at is None else max(0.0, next_at - time.time())
            self._wake.clear()
            if self._stopping:  # stop() may have woken us before the clear
                break
            try:
                await asyncio.wait_for(self._wake.wait(), wait)
            except asyncio.TimeoutError:
                pass

    async def deliver_due(self, limit: int = 20) -> int:
        """Claims and sends due items one at a time (Store.claim_due_outbox), so that several
        gigdesk processes sharing a PostgreSQL database never send the same item twice."""
        done = 0
        while done < limit and not self._stopping:
            item = await self.store.run(self.store.store.claim_due_outbox, time.time())
            if item is None:
                break
            await self._deliver(item)
            done += 1
        return done

    async def _deliver(self, item: dict) -> None:
        try:
            await self._attempt(item)
        finally:
            self.on_change()

    async def _attempt(self, item: dict) -> None:
        store = self.store.store
        attempts = item["attempts"] + 1
        if self.api is None:
            await self._update(item, state="failed", attempts=attempts, last_error="未配置 WECHAT_APPID/WECHAT_SECRET")
            self.on_result("failed")
            return
        if item["kind"] == "text" and (earlier := await self.store.run(store.earlier_queued_text, item["id"],
                                                                       item["rider_id"])):
            # Replies reach a rider in the order written: wait while an earlier one backs off.
            await self._update(item, next_attempt_at=max(earlier["next_attempt_at"], time.time()) + 0.001)
            return
        if item["kind"] == "text" and (limit := await self.store.run(self._known_limit, item)):
            await self._hold(item, limit)  # WeChat would refuse it: no call, no attempt counted
            return
        try:
            if item["kind"] == "template":
                await self._send_template(item)
            else:
                await self.api.send_text(item["openid"], item["text"])
        except WeChatAPIError as exc:
            if item["kind"] == "text" and exc.code in HOLD:
                await self._hold(item, HOLD[exc.code])
                return
            await self._failed(item, attempts, exc.code, REASONS.get(exc.code, f"微信错误 {exc.code}：{exc.message}"),
                               retry=exc.code in RETRYABLE)
            return
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            await self._failed(item, attempts, None, f"连不上微信：{type(exc).__name__}", retry=True)
            return
        await self._update(item, state="sent", attempts=attempts, sent_at=time.time(), last_error=None)
        self.on_result("sent")

    def _known_limit(self, item: dict) -> str | None:
        """Runs on the database thread: "window" or "quota" when WeChat would certainly refuse."""
        store = self.store.store
        rider = store.rider(item["rider_id"])
        if rider is None or not rider["last_message_at"]:
            return None  # nothing known: let WeChat decide
        if time.time() > rider["last_message_at"] + WINDOW_SECONDS:
            return "window"
        sent = store.customer_messages_sent(item["rider_id"], rider["last_message_at"])
        return "quota" if sent >= MESSAGES_PER_RIDER_MESSAGE else None

    async def _hold(self, item: dict, limit: str) -> None:
        log.info("outbox %s held until %s writes again (%s)", item["id"], item["rider_id"], limit)
        await self._update(item, state="held", last_error=HELD_REASONS[limit])
        self.on_result("held")
        if self.template and limit == "window":
            await self.store.run(self._queue_template_once, item)

    def _queue_template_once(self, item: dict) -> None:
        """One notice per silence: none if one went out since the rider last wrote."""
        store = self.store.store
        rider = store.rider(item["rider_id"]) or {}
        if not store.template_notice_since(item["rider_id"], rider.get("last_message_at") or 0):
            store.enqueue_outbox(item["rider_id"], item["openid"], "", None, time.time(), kind="template")
            self._wake.set()

    async def _send_template(self, item: dict) -> None:
        assert self.api is not None and self.template is not None
        await self.api.send_template(item["openid"], self.template.template_id, self.template.fields,
                                     self.template.url)

    async def _update(self, item: dict, **fields) -> None:
        store = self.store.store
        await self.store.run(lambda: store.update_outbox(item["id"], **fields))

    async def _failed(self, item: dict, attempts: int, code: int | None, reason: str, retry: bool) -> None:
        if retry and attempts < MAX_ATTEMPTS:
            next_at = time.time() + backoff(attempts, self.base_delay)
            log.warning("outbox %s: %s; retry %d in %.0fs", item["id"], reason, attempts, next_at - time.time())
            await self._update(item, attempts=attempts, last_error=reason, next_attempt_at=next_at)
            self.on_result("retry")
        else:
            log.error("outbox %s to %s failed for good: %s", item["id"], item["rider_id"], reason)
            await self._update(item, state="failed", attempts=attempts, last_error=reason)
            self.on_result("failed")
