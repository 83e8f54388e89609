"""An async client for the parts of WeChat's API gigdesk uses, with one access_token store.

wechatpy 1.8's client is synchronous (requests) and retries 40001 without bound, so the
calls are made here with aiohttp. Facts: ../shared/wechat-protocol.md."""
from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass

import aiohttp

log = logging.getLogger("gigdesk.wechat_api")

TOKEN_ERRORS = {40001, 40014, 42001}  # bad or expired access_token: refresh once and retry
TOKEN_MARGIN = 300  # refresh this many seconds before WeChat says the token expires


class WeChatAPIError(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(f"WeChat error {code}: {message}")
        self.code = code
        self.message = message


@dataclass
class _Token:
    value: str
    expires_at: float


class WeChatAPI:
    """One instance per process: it owns the access_token, so there is one refresher."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, appid: str, secret: str,
                 timeout: float = 10.0):
        self._session = session
        self._base = base_url.rstrip("/")
        self._appid = appid
        self._secret = secret
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._token: _Token | None = None
        self._lock = asyncio.Lock()

    async def access_token(self, *, force_refresh: bool = False) -> str:
        async with self._lock:  # concurrent callers share one fetch
            if not force_refresh and self._token and self._token.expires_at > time.time():
                return self._token.value
            # stable_token does not invalidate the token other processes may hold.
            data = await self._post("/cgi-bin/stable_token", {
                "grant_type": "client_credential", "appid": self._appid, "secret": self._secret,
                "force_refresh": force_refresh})
            token = data.get("access_token")
            if not isinstance(token, str) or not token or len(token) > 512:
                raise WeChatAPIError(-2, "no access_token in the answer")
            lifetime = int(data.get("expires_in") or 7200)
            self._token = _Token(token, time.time() + max(lifetime - TOKEN_MARGIN, 60))
            return token

    async def send_text(self, openid: str, text: str) -> None:
        """Customer-service text message; raises WeChatAPIError with WeChat's code."""
        await self._call_with_token("/cgi-bin/message/custom/send", {
            "touser": openid, "msgtype": "text", "text": {"content": text}})

    async def send_template(self, openid: str, template_id: str, fields: dict[str, str], url: str = "") -> None:
        """Template message: the fallback outside the 48-hour window (verified service accounts).
        WeChat refuses fields over 20 characters, so they are cut here rather than lost there."""
        body: dict = {"touser": openid, "template_id": template_id,
                      "data": {name: {"value": value[:20]} for name, value in fields.items()}}
        if url:
            body["url"] = url
        await self._call_with_token("/cgi-bin/message/template/send", body)

    async def get_media(self, media_id: str) -> tuple[bytes, str]:
        """A temporary media file (WeChat keeps them 3 days): its bytes and content type.
        WeChat answers errors as JSON, files as anything else."""
        for attempt in (1, 2):
            token = await self.access_token(force_refresh=attempt == 2)
            async with self._session.get(self._base + "/cgi-bin/media/get", timeout=self._timeout,
                                         params={"access_token": token, "media_id": media_id}) as resp:
                body = await resp.read()
                kind = resp.content_type
            if resp.status >= 500:
                raise WeChatAPIError(-1, f"HTTP {resp.status}")
            if kind not in ("application/json", "text/plain"):
                return body, kind
            try:
                code = int(json.loads(body).get("errcode") or 0)
                message = str(json.loads(body).get("errmsg", ""))
            except (ValueError, AttributeError):
                raise WeChatAPIError(-1, "unreadable answer") from None
            if code not in TOKEN_ERRORS or attempt == 2:
                raise WeChatAPIError(code or -1, message)
        raise AssertionError("unreachable")

    async def _call_with_token(self, path: str, body: dict) -> dict:
        token = await self.access_token()
        try:
            return await self._post(path, body, token)
        except WeChatAPIError as exc:
            if exc.code not in TOKEN_ERRORS:
                raise
            log.warning("access_token rejected (%s); refreshing once", exc.code)
            token = await self.access_token(force_refresh=True)
            return await self._post(path, body, token)

    async def _post(self, path: str, body: dict, token: str | None = None) -> dict:
        params = {"access_token": token} if token else None
        # WeChat expects UTF-8 JSON; \\u escapes have shown up literally in users' chats.
        payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
        async with self._session.post(self._base + path, params=params, data=payload, timeout=self._timeout,
                                      headers={"Content-Type": "application/json; charset=utf-8"}) as resp:
            if resp.status >= 500:
                raise WeChatAPIError(-1, f"HTTP {resp.status}")
            try:
                data = json.loads(await resp.read())
            except (ValueError, UnicodeDecodeError):
                raise WeChatAPIError(-1, f"HTTP {resp.status}, not JSON") from None
        if not isinstance(data, dict):
            raise WeChatAPIError(-1, "answer is not a JSON object")
        code = int(data.get("errcode") or 0)
        if code:
            raise WeChatAPIError(code, str(data.get("errmsg", "")))
        return data
