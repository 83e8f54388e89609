"""Messages sent later through WeChat's customer-service API (answers that missed the
passive-reply deadline)."""
from __future__ import annotations

import logging

import aiohttp

from bot.wechat_api import WeChatAPI, WeChatAPIError

log = logging.getLogger("gigdesk.outbox")


class Outbox:
    def __init__(self, api: WeChatAPI | None):
        self.api = api

    async def send(self, openid: str, text: str) -> bool:
        if self.api is None:
            log.error("cannot send to %s: WECHAT_APPID/WECHAT_SECRET are not set", openid)
            return False
        try:
            await self.api.send_text(openid, text)
        except (WeChatAPIError, aiohttp.ClientError, TimeoutError) as exc:
            log.error("customer-service message to %s failed: %s", openid, exc)
            return False
        return True
