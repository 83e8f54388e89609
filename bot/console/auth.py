"""Who may use the console: passwords, sessions, CSRF, the log-in rate limit and roles.

Sessions are server-side: the cookie holds a random token and the database only its SHA-256,
so an account can be disabled or logged out everywhere at once, and a new token is issued at
every log-in (no session fixation). Every write needs the session's CSRF token (header
X-CSRF-Token, or field csrf in a form) and a same-origin Origin header when one is sent."""
from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import quote

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from aiohttp import web

from bot.httputil import json_error, same_origin, same_secret
from bot.ratelimit import SlidingWindows
from storage import AsyncStore
from storage.accounts import ROLES

COOKIE = "gigdesk_console"
CSRF_HEADER = "X-CSRF-Token"
MIN_PASSWORD_LENGTH = 10
# What each role may do. An admin can do everything; an editor keeps the FAQ, a caseworker
# talks to riders. Every console and API route names the permission it needs.
PERMISSIONS = {
    "caseworker": frozenset({"conversations"}),
    "editor": frozenset({"faq"}),
    "admin": frozenset({"conversations", "faq", "users"}),
}
assert set(PERMISSIONS) == set(ROLES)
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}

_hasher = PasswordHasher()  # argon2id with the library's RFC 9106 defaults
# Checked when the name is unknown, so a wrong name takes as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


def handles_conversations(user: dict) -> bool:
    """An active account whose role may take a conversation or a case (a user row)."""
    return bool(user and user["active"] and "conversations" in PERMISSIONS.get(user["role"], ()))


class PasswordError(ValueError):
    pass


# Letters, digits, . _ - and Chinese characters. Everything else is refused: a Cyrillic "а"
# makes "аdmin" look like "admin" in the audit log, and an RTL override or a zero-width space
# makes one name display as another.
ACCOUNT_NAME = re.compile(r"[A-Za-z0-9._\-\u4e00-\u9fff]{1,32}")


def account_name_problem(name: str, existing: list[str]) -> str | None:
    """Why this name cannot be a new account's, or None."""
    if not ACCOUNT_NAME.fullmatch(name):
        return "用户名只能用字母、数字、汉字和 . _ -，最多 32 个字"
    if name.lower() in {e.lower() for e in existing}:
        return f"已经有叫 {name} 的账号（不分大小写）"
    return None


def check_new_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PasswordError(f"密码至少 {MIN_PASSWORD_LENGTH} 个字符")
    if len(password) > 1024:
        raise PasswordError("密码太长")


def hash_password(password: str) -> str:
    check_new_password(password)
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Staff:
    """The logged-in person behind a request."""
    user_id: int
    name: str
    role: str
    csrf: str
    token_hash: str

    def can(self, permission: str) -> bool:
        return permission == "signed_in" or permission in PERMISSIONS.get(self.role, ())


class LoginLimiter:
    """At most `attempts` log-ins that did not succeed per key in `window` seconds."""

    def __init__(self, attempts: int = 5, window: float = 900.0, max_keys: int = 10000):
        self.attempts = attempts
        self.max_keys = max_keys
        self._failures = SlidingWindows(window, max_keys)

    def retry_after(self, keys: list[str], now: float) -> float:
        """Seconds until these keys may try again; 0 when they may now."""
        wait = 0.0
        for key in keys:
            times = self._failures.recent(key, now)
            if len(times) >= self.attempts:
                wait = max(wait, times[0] + self._failures.window - now)
        return wait

    def count(self, key: str, now: float) -> int:
        return len(self._failures.recent(key, now))

    def failed(self, keys: list[str], now: float) -> None:
        for key in keys:
            self._failures.add(key, now)

    def refund(self, key: str, at: float) -> None:
        """An attempt counted when it began turned out to be the right password."""
        self._failures.remove(key, at)

    def succeeded(self, keys: list[str]) -> None:
        for key in keys:
            self._failures.forget(key)


class PasswordChecks:
    """argon2 takes tens of milliseconds of CPU and real memory per check, so checks run on
    their own few threads, never on the pool the rest of the app shares, and a flood of them
    waits its turn instead of starving everything else (the review saw a list page go from
    0.15 s to 7 s under 40 parallel log-ins)."""

    def __init__(self, threads: int = 2, max_waiting: int = 64):
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="gigdesk-password")
        self._max_waiting = max_waiting
        self._waiting = 0

    @property
    def busy(self) -> bool:
        return self._waiting >= self._max_waiting

    async def verify(self, password_hash: str | None, password: str) -> bool:
        self._waiting += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(
                self._executor, verify_password, password_hash, password)
        finally:
            self._waiting -= 1

    async def hash(self, password: str) -> str:
        return await asyncio.get_running_loop().run_in_executor(self._executor, hash_password, password)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


class Throttled(float):
    """Seconds to wait before trying again (the address has used up its attempts)."""


def requires(permission: str):
    """Marks a handler with the permission it needs; the guard middleware enforces it."""
    def mark(handler):
        handler.permission = permission
        return handler
    return mark


def public(handler):
    handler.permission = None
    return handler


STAFF = web.RequestKey("staff", Staff)  # the person behind the request, set by the guard


@dataclass
class Auth:
    store: AsyncStore
    session_seconds: float
    secure_cookies: bool = False
    limiter: LoginLimiter = None  # type: ignore[assignment]
    checks: PasswordChecks = None  # type: ignore[assignment]
    base_delay: float = 1.0  # seconds before a check on a name that has failed too often
    max_delay: float = 16.0

    def __post_init__(self) -> None:
        self.limiter = self.limiter or LoginLimiter()
        self.checks = self.checks or PasswordChecks()
        self._name_locks: dict[str, asyncio.Lock] = {}

    @contextlib.asynccontextmanager
    async def _one_check_at_a_time(self, name_key: str):
        """Only a name that has failed too often is serialised; others check in parallel."""
        if self.limiter.count(name_key, time.time()) < self.limiter.attempts:
            yield
            return
        if len(self._name_locks) > self.limiter.max_keys:  # forget names nobody is checking now
            self._name_locks = {k: v for k, v in self._name_locks.items() if v.locked()}
        async with self._name_locks.setdefault(name_key, asyncio.Lock()):
            yield

    async def log_in(self, name: str, password: str, address: str) -> Staff | Throttled | None:
        """The new session's Staff; or seconds to wait when rate-limited; or None when wrong.

        Following OWASP's authentication guidance, the hard limit is per address, and an
        account under attack is slowed rather than locked: after `attempts` failures on a name,
        each further check on it waits (doubling up to `max_delay`) and checks on it run one at a
        time. Its owner still gets in, and no one can lock out an admin by typing their name."""
        now = time.time()
        address_key, name_key = f"address:{address}", f"name:{name.lower()}"
        wait = self.limiter.retry_after([address_key], now)
        if wait > 0:
            return Throttled(wait)
        if self.checks.busy:
            return Throttled(60.0)
        # Counted before the check, so parallel attempts cannot all pass the limit at once.
        self.limiter.failed([address_key], now)
        user = await self.store.run(self.store.store.user_by_name, name)
        hashed = user["password_hash"] if user and user["active"] else None
        async with self._one_check_at_a_time(name_key):
            failures = self.limiter.count(name_key, time.time())
            if failures >= self.limiter.attempts:
                await asyncio.sleep(min(self.max_delay, self.base_delay * 2 ** (failures - self.limiter.attempts)))
            ok = await self.checks.verify(hashed, password)
        if not ok:
            self.limiter.failed([name_key], time.time())
            await self.store.run(self.store.store.audit, name[:64] or "?", "login_failed", address, now)
            return None
        self.limiter.refund(address_key, now)
        self.limiter.succeeded([name_key])
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        staff = Staff(user["id"], user["name"], user["role"], csrf, token_hash(token))

        def record() -> None:
            store = self.store.store
            with store.transaction():
                store.purge_sessions(now)
                store.add_session(staff.token_hash, user["id"], csrf, now, now + self.session_seconds)
                store.update_user(user["id"], last_login_at=now)
                store.audit(user["name"], "login", address, now)
        await self.store.run(record)
        object.__setattr__(staff, "_token", token)  # handed to set_cookie once, never stored
        return staff

    async def log_out(self, staff: Staff) -> None:
        await self.store.run(self.store.store.end_session, staff.token_hash)
        await self.store.run(self.store.store.audit, staff.name, "logout", "", time.time())

    async def staff(self, request: web.Request) -> Staff | None:
        token = request.cookies.get(COOKIE, "")
        if not token or len(token) > 128:
            return None
        row = await self.store.run(self.store.store.session_user, token_hash(token), time.time())
        if row is None:
            return None
        return Staff(row["user_id"], row["name"], row["role"], row["csrf"], row["token_hash"])

    def set_cookie(self, response: web.StreamResponse, staff: Staff) -> None:
        response.set_cookie(COOKIE, getattr(staff, "_token"), max_age=int(self.session_seconds), httponly=True,
                            samesite="Lax", secure=self.secure_cookies, path="/")

    def clear_cookie(self, response: web.StreamResponse) -> None:
        response.del_cookie(COOKIE, path="/")


def csrf_ok(request: web.Request, staff: Staff, form_token: str | None = None) -> bool:
    sent = request.headers.get(CSRF_HEADER) or form_token or ""
    return same_origin(request) and same_secret(sent, staff.csrf)


def is_api(request: web.Request) -> bool:
    return request.path.startswith("/api/")


def make_guard(auth: Auth):
    """Every /console and /api route is refused unless its handler declares a permission (or
    @public) and the logged-in person has it, so a new route cannot be left open by mistake."""

    @web.middleware
    async def guard(request: web.Request, handler) -> web.StreamResponse:
        path = request.path
        if not (path.startswith("/api/") or path == "/api" or path.startswith("/console")):
            return await handler(request)
        permission = getattr(handler, "permission", "undeclared")
        if permission is None:
            return await handler(request)
        staff = await auth.staff(request)
        if staff is None:
            if is_api(request) or request.method != "GET":
                return json_error(401, "请先登录")
            raise web.HTTPFound("/console/login?next=" + _quote_next(request.path_qs))
        if permission == "undeclared" or not staff.can(permission):
            return json_error(403, "你的账号没有这个权限") if is_api(request) else \
                web.Response(status=403, text="你的账号没有这个权限", content_type="text/plain")
        if request.method in UNSAFE_METHODS and not csrf_ok(request, staff, await _form_token(request)):
            return json_error(403, "CSRF 校验失败：请刷新页面再试")
        request[STAFF] = staff
        return await handler(request)

    return guard


async def _form_token(request: web.Request) -> str | None:
    """The csrf field of a form post (aiohttp keeps the parsed form for the handler)."""
    if request.content_type not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return None
    try:
        token = (await request.post()).get("csrf")
    except ValueError:  # a malformed form (e.g. multipart without a boundary): no token, so 403
        return None
    return token if isinstance(token, str) else None


def _quote_next(path_qs: str) -> str:
    return quote(path_qs, safe="")


def safe_next(value: str | None) -> str:
    """Only a path inside the console: never an open redirect to another site."""
    if value and value.startswith("/console") and "//" not in value and "\\" not in value:
        return value
    return "/console"
