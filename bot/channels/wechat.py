"""The WeChat webhook at /wechat: verify, parse, dedupe, answer within the deadline.

Every refused request is logged with its reason and answered 4xx; anything we cannot place is
answered "success" so WeChat does not show the rider "该公众号暂时无法提供服务"."""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

from bot.channels import wechat_protocol as proto
from bot.delivery import Deliveries, Outcome
from bot.conversation import Engine, Inbound
from bot.outbox import Outbox
from bot.settings import Settings
from storage import AsyncStore

log = logging.getLogger("gigdesk.wechat")


def success() -> web.Response:
    return web.Response(text="success", content_type="text/plain")


@dataclass
class Webhook:
    settings: Settings
    store: AsyncStore
    engine: Engine
    outbox: Outbox
    safe_mode: proto.SafeMode | None = None
    on_change: Callable[[], None] = lambda: None  # tells open console pages
    deliveries: Deliveries | None = None  # shared with the web chat (create_app); else its own
    # Keys whose answer missed the deadline and goes through the customer-service API.
    _late: set[str] = field(default_factory=set)
    _tasks: set[asyncio.Future] = field(default_factory=set)

    def __post_init__(self) -> None:
        if self.deliveries is None:
            self.deliveries = Deliveries(self.store, self.engine)

    async def verify(self, request: web.Request) -> web.Response:
        q = request.query
        try:
            proto.check_timestamp(q.get("timestamp"), self.settings.timestamp_tolerance)
            proto.check_signature((self.settings.wechat_token, q["timestamp"], q.get("nonce", "")),
                                  q.get("signature"))
        except proto.Refused as refused:
            return self._refuse(request, refused)
        # aiohttp has decoded the query once; echostr goes back exactly as WeChat sent it.
        return web.Response(text=q.get("echostr", ""), content_type="text/plain")

    async def receive(self, request: web.Request) -> web.Response:
        started = time.monotonic()
        try:
            body = await self._read_body(request)
            message, xml_nonce = self._open(request, body)
        except proto.Refused as refused:
            return self._refuse(request, refused)
        inbound = proto.to_inbound(message, time.time())
        key = proto.dedupe_key(message)
        remaining = self.settings.reply_deadline - (time.monotonic() - started)
        text = await self._answer_in_time(key, inbound, remaining)
        if text is None:
            return success()
        xml = proto.text_reply_xml(message, text)
        if self.safe_mode and request.query.get("encrypt_type") == "aes":
            xml = self.safe_mode.encrypt(xml, xml_nonce, request.query["timestamp"])
        return web.Response(text=xml, content_type="application/xml")

    async def _read_body(self, request: web.Request) -> bytes:
        limit = self.settings.max_body_bytes
        if request.content_length is not None and request.content_length > limit:
            raise proto.Refused(413, f"body of {request.content_length} bytes")
        body = bytearray()
        async for chunk in request.content.iter_chunked(16384):  # chunked bodies have no length
            body += chunk
            if len(body) > limit:
                raise proto.Refused(413, "body over the limit")
        body = bytes(body)
        if not body.strip():
            raise proto.Refused(400, "empty body")
        return body

    def _open(self, request: web.Request, body: bytes):
        q = request.query
        proto.check_timestamp(q.get("timestamp"), self.settings.timestamp_tolerance)
        timestamp, nonce = q["timestamp"], q.get("nonce", "")
        proto.check_signature((self.settings.wechat_token, timestamp, nonce), q.get("signature"))
        proto.refuse_dtd(body)
        xml = proto.decode_body(body)
        if q.get("encrypt_type") == "aes":
            if self.safe_mode is None:
                raise proto.Refused(400, "encrypted message but WECHAT_AES_KEY is not set")
            xml = self.safe_mode.decrypt(xml, q.get("msg_signature"), timestamp, nonce)
        return proto.parse(xml), nonce

    async def _answer_in_time(self, key: str, inbound: Inbound, remaining: float) -> str | None:
        task = self.deliveries.submit(key, inbound)
        try:
            outcome = await asyncio.wait_for(asyncio.shield(task), max(remaining, 0))
        except asyncio.TimeoutError:
            self._late.add(key)
            task.add_done_callback(lambda t: self._deliver_late(key, inbound.openid, t))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            log.warning("answer for %s missed the deadline; it will go through the customer-service API",
                        key)
            return None
        self._handled(outcome)
        if outcome.retry:
            log.info("retry of %s recognised", key)
            if outcome.late or key in self._late:
                return None
        return outcome.reply_text

    def _handled(self, outcome: Outcome) -> None:
        if outcome.retry:
            return
        self.on_change()
        if outcome.released:
            self.outbox.wake()

    def _deliver_late(self, key: str, openid: str, task: asyncio.Future) -> None:
        if task.cancelled() or task.exception() is not None:
            log.error("late answer for %s failed: %r", key, None if task.cancelled() else task.exception())
            return
        outcome: Outcome = task.result()
        self._handled(outcome)
        if outcome.retry or not outcome.reply_text:
            return
        sending = asyncio.ensure_future(self._send_late(key, openid, outcome))
        self._tasks.add(sending)
        sending.add_done_callback(self._tasks.discard)

    async def _send_late(self, key: str, openid: str, outcome: Outcome) -> None:
        message_id = outcome.reply.message_id if outcome.reply else None
        await self.store.run(self.store.store.send_late, key, f"wechat:{openid}", openid, outcome.reply_text,
                             message_id, time.time())
        # From here on a retry reads late=1 from the database; the set need not grow forever.
        self._late.discard(key)
        self.outbox.wake()

    async def drain(self) -> None:
        """Wait for answers that missed the deadline to be queued, so that a shutdown closes the
        database only after WeChat's "success" has been made good. A finished answer schedules
        its sending as it ends (a done callback registered first), so loop until none is left."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _refuse(self, request: web.Request, refused: proto.Refused) -> web.Response:
        log.warning("refused %s %s from %s: %s", request.method, request.path, request.remote, refused.reason)
        return web.Response(status=refused.status, text=refused.reason, content_type="text/plain")


def setup(app: web.Application, webhook: Webhook) -> None:
    app.router.add_get("/wechat", webhook.verify)
    app.router.add_post("/wechat", webhook.receive)
