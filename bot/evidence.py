"""Evidence a rider sent during a help request is fetched from WeChat into files, because
WeChat keeps temporary media for 3 days only. File names are ours (case and evidence ids),
never anything the rider or WeChat chose."""
from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import aiohttp

from bot.wechat_api import WeChatAPI, WeChatAPIError
from storage import AsyncStore

log = logging.getLogger("gigdesk.evidence")
EXTENSIONS = {"image/jpeg": ".jpg", "image/png": ".png", "image/gif": ".gif", "audio/amr": ".amr",
              "audio/speex": ".speex", "video/mp4": ".mp4"}
MAX_BYTES = 20 * 1024 * 1024


class EvidenceFetcher:
    def __init__(self, store: AsyncStore, directory: Path, api: WeChatAPI | None = None, interval: float = 30.0):
        self.store = store
        self.directory = directory
        self.api = api
        self.interval = interval

    async def run(self) -> None:
        while True:
            try:
                await self.fetch_pending()
            except Exception:  # one bad file must not stop the others
                log.exception("evidence fetch failed")
            await asyncio.sleep(self.interval)

    async def fetch_pending(self) -> int:
        if self.api is None:
            return 0
        items = await self.store.run(self.store.store.claim_pending_evidence, time.time())
        for item in items:
            await self._fetch(item)
        return len(items)

    async def _fetch(self, item: dict) -> None:
        store = self.store.store
        try:
            body, kind = await self.api.get_media(item["media_id"])
        except WeChatAPIError as exc:
            if exc.code in (-1, 45009):  # busy: the next round (of any worker) tries again
                await self.store.run(lambda: store.update_evidence(item["id"], fetching_until=None))
                return
            error = f"微信错误 {exc.code}：{exc.message}"[:200]
            await self.store.run(lambda: store.update_evidence(item["id"], state="failed", error=error))
            return
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
            await self.store.run(lambda: store.update_evidence(item["id"], fetching_until=None))
            return
        if len(body) > MAX_BYTES:
            await self.store.run(lambda: store.update_evidence(item["id"], state="failed", error="文件太大"))
            return
        relative = Path(str(item["case_id"])) / f"{item['id']}{EXTENSIONS.get(kind, '.bin')}"
        path = self.directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        await asyncio.get_running_loop().run_in_executor(None, path.write_bytes, body)
        await self.store.run(lambda: store.update_evidence(item["id"], state="saved", file=str(relative), error=None))
