"""Small pieces every JSON endpoint needs: refusing cross-site writes, reading a bounded body,
answering with a CSV download."""
from __future__ import annotations

import csv
import datetime as dt
import hmac
import io
import ipaddress
import json
import re
import unicodedata
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web


def behind_proxy(trusted_proxy: str):
    """A middleware that takes the client's address from X-Real-IP, but only on requests that
    come from the trusted proxy: anyone else could write the header themselves."""
    @web.middleware
    async def real_address(request: web.Request, handler) -> web.StreamResponse:
        claimed = request.headers.get("X-Real-IP", "").strip()
        if trusted_proxy and request.remote == trusted_proxy and claimed:
            try:
                request = request.clone(remote=str(ipaddress.ip_address(claimed)))
            except ValueError:
                return json_error(400, "X-Real-IP is not an address")  # outermost: answer here
        return await handler(request)
    return real_address


def same_origin(request: web.Request) -> bool:
    """The Origin header's host must be ours; when a browser sends none (old browsers, some
    privacy settings), the Referer's must, as OWASP's CSRF guidance suggests. A request with
    neither (curl, a script) passes here: for the console it still needs the session's CSRF
    token. The scheme is not compared: behind an HTTPS proxy the app itself sees plain http."""
    origin = request.headers.get("Origin")
    if origin is None:
        referer = request.headers.get("Referer")
        return referer is None or _our_host(request, referer)
    return _our_host(request, origin)


def _our_host(request: web.Request, url: str) -> bool:
    try:
        netloc = urlsplit(url).netloc
    except ValueError:  # e.g. "http://[abc": not a URL, so not our origin (found by tests/test_fuzz.py)
        return False
    return netloc == request.host and url.startswith(("http://", "https://"))


def same_secret(sent: str, expected: str) -> bool:
    """A constant-time comparison that any text can be given: hmac.compare_digest raises
    TypeError on non-ASCII str, which a forged cookie or form field can carry."""
    return hmac.compare_digest(sent.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass"))


MAX_JSON_DEPTH = 32


def parse_json(body: bytes) -> Any:
    """A request body as JSON, or BadRequest. Beyond what json.loads refuses: nesting deeper
    than any of our bodies (15,000 "[" made json.loads raise RecursionError), and lone
    surrogates such as "\\ud800", which cannot be stored or shown (UnicodeEncodeError later)."""
    if body.count(b"[") + body.count(b"{") > 4 * MAX_JSON_DEPTH and _too_deep(body):
        raise BadRequest(400, "JSON 嵌套太深")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise BadRequest(400, "不是有效的 JSON") from None
    if not _valid_text(data):
        raise BadRequest(400, "内容里有无效的字符")
    return data


def _too_deep(body: bytes) -> bool:
    """Nesting depth over MAX_JSON_DEPTH, counted without parsing (brackets inside strings
    count too, which errs on the side of refusing a body no client of ours sends)."""
    depth = 0
    for byte in body:
        if byte in b"[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                return True
        elif byte in b"]}":
            depth -= 1
    return False


def _valid_text(value: Any) -> bool:
    """Every string in a parsed body encodes as UTF-8 (a lone surrogate does not)."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, dict):
        return all(_valid_text(k) and _valid_text(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_valid_text(v) for v in value)
    return True


def parse_id(raw: str | None, max_digits: int = 18) -> int | None:
    """A row id from a path or query: ASCII digits only ("²".isdigit() is True), bounded."""
    if raw and raw.isascii() and raw.isdigit() and len(raw) <= max_digits:
        return int(raw)
    return None


def json_error(status: int, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status)


class BadRequest(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message

    def response(self) -> web.Response:
        return json_error(self.status, self.message)


async def read_json_object(request: web.Request, max_bytes: int = 16384) -> dict[str, Any]:
    """The body as a JSON object, or BadRequest with a message a person can act on."""
    if request.content_type != "application/json":
        raise BadRequest(415, "请以 JSON 发送（Content-Type: application/json）")
    if request.content_length is not None and request.content_length > max_bytes:
        raise BadRequest(413, "内容太长")
    body = await request.content.read(max_bytes + 1)
    if len(body) > max_bytes:
        raise BadRequest(413, "内容太长")
    data = parse_json(body)
    if not isinstance(data, dict):
        raise BadRequest(400, "应当是一个 JSON 对象")
    return data


def text_field(data: dict[str, Any], name: str, max_chars: int, required: bool = True) -> str:
    value = data.get(name, "")
    if not isinstance(value, str):
        raise BadRequest(400, f"{name} 必须是文字")
    value = value.strip()
    if required and not value:
        raise BadRequest(400, f"{name} 不能为空")
    if len(value) > max_chars:
        raise BadRequest(413, f"{name} 太长：最多 {max_chars} 个字")
    return value


FIRST_YEAR, LAST_YEAR = 2000, 2100
DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")  # ASCII digits only: \d also takes "２"


def parse_day(raw: str | None) -> dt.date | None:
    """A YYYY-MM-DD date from a query, None when absent, BadRequest saying what is wrong."""
    if not raw:
        return None
    if not DATE.fullmatch(raw):
        raise BadRequest(400, "日期要写成 2026-11-21 这样")
    try:
        day = dt.date.fromisoformat(raw)
    except ValueError:
        raise BadRequest(400, f"没有 {raw} 这一天") from None
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise BadRequest(400, f"日期要在 {FIRST_YEAR} 年到 {LAST_YEAR} 年之间")
    return day


def csv_safe(value: Any) -> str:
    """Text that starts like a formula is quoted, so a rider cannot put one into Excel. Looking
    past invisible format characters (a zero-width space, a direction mark) and reading the
    full-width ＝＋－＠ a Chinese keyboard types as what spreadsheets take them for."""
    text = "" if value is None else str(value)
    first = unicodedata.normalize("NFKC", next((c for c in text if unicodedata.category(c) != "Cf"), ""))
    return "'" + text if first in ("=", "+", "-", "@") or text[:1] in ("\t", "\r") else text


def csv_response(header: list[str], rows: Iterable[Iterable[Any]], filename: str) -> web.Response:
    """A CSV download: every cell through csv_safe, and a BOM so that Excel, which most union
    offices use, reads the file as UTF-8."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for row in rows:
        writer.writerow([csv_safe(cell) for cell in row])
    return web.Response(body=("\ufeff" + out.getvalue()).encode("utf-8"), content_type="text/csv", charset="utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{filename}"'})
