"""Shared fixtures: real app, real SQLite file in tmp_path, real WeChat XML, and a fake of
WeChat's API served on loopback that records what it receives."""
from __future__ import annotations

import asyncio
import hashlib
import json
import os
import uuid
import random
import string
import time
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from urllib.parse import urlencode

import pytest
from aiohttp import web

from bot.app import create_app
from bot.settings import Settings

DATA = Path(__file__).parent / "data"
TOKEN = "test-token-7f3a"
APPID = "wx0123456789abcdef"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # 43 characters


def wechat_xml(name: str, **values: str) -> str:
    """A sample from tests/data/wechat/ with $openid, $time, $msgid, $content, $key filled in."""
    defaults = {"openid": "o_rider_1", "time": str(int(time.time())),
                "msgid": str(random.randint(10**15, 10**16)), "content": "你好", "key": ""}
    return Template((DATA / "wechat" / f"{name}.xml").read_text("utf-8")).substitute({**defaults, **values})


def sign(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def signed_query(token: str = TOKEN, timestamp: str | None = None, nonce: str | None = None, **extra: str) -> str:
    timestamp = timestamp or str(int(time.time()))
    nonce = nonce or "".join(random.choices(string.digits, k=9))
    query = {"signature": sign(token, timestamp, nonce), "timestamp": timestamp, "nonce": nonce,
             "openid": "o_rider_1", **extra}
    return "/wechat?" + urlencode(query)


def reply_content(xml: str) -> str:
    import xmltodict
    return xmltodict.parse(xml)["xml"]["Content"]


@dataclass
class FakeWeChat:
    """Records every call; `script` lists errcodes to answer send calls with, in order."""
    sent: list[dict] = field(default_factory=list)
    token_calls: list[dict] = field(default_factory=list)
    templates: list[dict] = field(default_factory=list)
    script: list[int] = field(default_factory=list)
    delay: float = 0.0
    url: str = ""
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def stable_token(self, request: web.Request) -> web.Response:
        self.token_calls.append(await request.json())
        return web.json_response({"access_token": f"TOKEN{len(self.token_calls)}", "expires_in": 7200})

    async def custom_send(self, request: web.Request) -> web.Response:
        if self.delay:
            await asyncio.sleep(self.delay)
        body = json.loads(await request.read())
        code = self.script.pop(0) if self.script else 0
        self.sent.append({"token": request.query.get("access_token"), "body": body, "errcode": code})
        self.arrived.set()
        return web.json_response({"errcode": code, "errmsg": "ok" if code == 0 else "error"})

    async def template_send(self, request: web.Request) -> web.Response:
        self.templates.append(json.loads(await request.read()))
        return web.json_response({"errcode": 0, "errmsg": "ok", "msgid": len(self.templates)})

    async def media_get(self, request: web.Request) -> web.Response:
        media_id = request.query.get("media_id", "")
        if not media_id.startswith("media_"):
            return web.json_response({"errcode": 40007, "errmsg": "invalid media_id"})
        return web.Response(body=b"\xff\xd8\xff fake jpeg " + media_id.encode(), content_type="image/jpeg")

    async def wait_for_sent(self, count: int = 1, timeout: float = 10.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while len([s for s in self.sent if s["errcode"] == 0]) < count:
            self.arrived.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"fake WeChat got {self.sent} after {timeout}s, wanted {count} sent")
            try:
                await asyncio.wait_for(self.arrived.wait(), remaining)
            except asyncio.TimeoutError:
                pass
        return self.sent


# --- storage backends ------------------------------------------------------------------------
# A module marked `pytestmark = pytest.mark.both_backends` runs each test that uses the
# `backend` fixture (directly, or through make_store, database_url, settings, client) once on
# SQLite and once on PostgreSQL; everything else runs on SQLite. In such a module, a test of
# what only an SQLite file has (its bytes, an old file's migration) says so with sqlite_only.
# PostgreSQL is the server of GIGDESK_TEST_DATABASE_URL (scripts/test.sh starts a throw-away
# one), each test in a schema of its own, dropped afterwards.
BACKENDS = ("sqlite", "postgresql")
POSTGRES_URL = os.environ.get("GIGDESK_TEST_DATABASE_URL", "")


def pytest_configure(config):
    config.addinivalue_line("markers", "both_backends: run the module's storage tests on SQLite and PostgreSQL")
    config.addinivalue_line("markers", "postgresql_only: what only PostgreSQL does (row locks), on it alone")
    config.addinivalue_line("markers", "sqlite_only: what only an SQLite file has (its bytes, old files), on it alone")


def pytest_generate_tests(metafunc):
    if "backend" not in metafunc.fixturenames:
        return
    if metafunc.definition.get_closest_marker("postgresql_only"):
        metafunc.parametrize("backend", ["postgresql"], indirect=True)
    elif metafunc.definition.get_closest_marker("sqlite_only"):
        metafunc.parametrize("backend", ["sqlite"], indirect=True)
    elif metafunc.definition.get_closest_marker("both_backends"):
        metafunc.parametrize("backend", BACKENDS, indirect=True)


@pytest.fixture
def backend(request) -> str:
    return getattr(request, "param", "sqlite")


@pytest.fixture(scope="session")
def postgres_admin():
    """A connection to the test server, for making and dropping the tests' schemas."""
    if not POSTGRES_URL:
        if os.environ.get("GIGDESK_TEST_REQUIRE_POSTGRESQL"):
            pytest.fail("GIGDESK_TEST_REQUIRE_POSTGRESQL is set but GIGDESK_TEST_DATABASE_URL is not")
        pytest.skip("no PostgreSQL: GIGDESK_TEST_DATABASE_URL is not set (scripts/test.sh starts one)")
    import psycopg
    conn = psycopg.connect(POSTGRES_URL, autocommit=True)  # unreachable: an error, never a skip
    yield conn
    conn.close()


@pytest.fixture
def database_url(request, backend) -> str:
    """The database_url setting for this test: empty for SQLite, else a fresh schema's URL."""
    if backend == "sqlite":
        yield ""
        return
    from psycopg.conninfo import make_conninfo
    admin = request.getfixturevalue("postgres_admin")
    schema = "t_" + uuid.uuid4().hex[:16]
    admin.execute(f"CREATE SCHEMA {schema}")
    yield make_conninfo(POSTGRES_URL, options=f"-c search_path={schema}")
    # Connections a test left open would hold locks the DROP waits for: end them first.
    admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                  " WHERE pid != pg_backend_pid() AND datname = current_database() AND state = 'idle in transaction'")
    admin.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def make_store(database_url, tmp_path):
    """make_store(path=None): a Store on this test's backend (path: the SQLite file, by default
    tmp_path/data/gigdesk.db). Each is closed after the test."""
    from storage import open_store
    opened = []

    def make(path: Path | None = None):
        store = open_store(database_url, path or tmp_path / "data" / "gigdesk.db")
        opened.append(store)
        return store

    yield make
    for store in opened:
        try:
            store.close()
        except Exception:
            pass


@pytest.fixture(autouse=True)
def no_request_ends_in_a_500(request, caplog):
    """Across the whole suite: bot.app's last-resort middleware logs "unhandled error" for
    every request that would have been a 500, so any test that caused one fails here (a test
    of that middleware itself says so with @pytest.mark.provokes_an_internal_error)."""
    yield
    if request.node.get_closest_marker("provokes_an_internal_error"):
        return
    crashes = [r for r in caplog.get_records("call") if r.getMessage().startswith("unhandled error")]
    assert not crashes, [r.getMessage() for r in crashes]


@pytest.fixture
async def fake_wechat(aiohttp_server) -> FakeWeChat:
    fake = FakeWeChat()
    app = web.Application()
    app.router.add_post("/cgi-bin/stable_token", fake.stable_token)
    app.router.add_post("/cgi-bin/message/custom/send", fake.custom_send)
    app.router.add_post("/cgi-bin/message/template/send", fake.template_send)
    app.router.add_get("/cgi-bin/media/get", fake.media_get)
    server = await aiohttp_server(app)
    fake.url = str(server.make_url("")).rstrip("/")
    return fake


@pytest.fixture
def settings(tmp_path, fake_wechat, database_url) -> Settings:
    return Settings(wechat_token=TOKEN, wechat_appid=APPID, wechat_secret="test-secret",
                    wechat_api_base=fake_wechat.url, data_dir=str(tmp_path / "data"), database_url=database_url,
                    knowledge_poll_seconds=0.2)


@pytest.fixture
async def client(aiohttp_client, settings):
    return await aiohttp_client(create_app(settings))


async def send_text(client, text: str, openid: str = "o_rider_1", msgid: str | None = None) -> str:
    """Post a signed text message as WeChat would; return the reply's Content ('' for success)."""
    xml = wechat_xml("text", openid=openid, content=text, msgid=msgid or str(random.randint(10**15, 10**16)))
    resp = await client.post(signed_query(), data=xml.encode())
    assert resp.status == 200, await resp.text()
    body = await resp.text()
    return "" if body == "success" else reply_content(body)


PASSWORD = "correct horse battery"


async def on_db(app, fn, *args):
    """Run a Store call on the app's database thread. A test that touched the connection from
    the event loop while the outbox or escalator was using it could break their transaction
    (CI once saw "no such savepoint")."""
    from bot.app import STORE
    return await app[STORE].run(fn, *args)


def add_user(app, name: str, role: str = "caseworker", password: str = PASSWORD) -> int:
    from bot.app import STORE
    from bot.console.auth import hash_password
    return app[STORE].store.add_user(name, role, hash_password(password), time.time())


class Console:
    """A browser-like client of the console: its own cookies, the CSRF token on every write."""

    def __init__(self, base: str):
        import aiohttp
        self.base = base.rstrip("/")
        self.session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.csrf = ""

    async def log_in(self, name: str, password: str = PASSWORD) -> int:
        """The log-in form's status (303 when logged in); the page it showed is in .page."""
        import re
        async with self.session.get(self.base + "/console/login") as page:
            token = re.search(r'name="csrf" value="([^"]+)"', await page.text()).group(1)
        form = {"name": name, "password": password, "csrf": token, "next": "/console/queue"}
        async with self.session.post(self.base + "/console/login", data=form, allow_redirects=False) as resp:
            self.page = await resp.text()
            status = resp.status
        if status == 303:
            async with self.session.get(self.base + "/api/me") as me:
                self.csrf = (await me.json())["csrf"]
        return status

    async def get(self, path: str, **kwargs):
        async with self.session.get(self.base + path, **kwargs) as resp:
            return resp.status, await resp.json(content_type=None)

    async def post(self, path: str, body: dict | None = None, **kwargs):
        headers = {"X-CSRF-Token": self.csrf, **kwargs.pop("headers", {})}
        async with self.session.post(self.base + path, json=body if body is not None else {}, headers=headers,
                                     **kwargs) as resp:
            return resp.status, await resp.json(content_type=None)

    async def close(self):
        await self.session.close()


@pytest.fixture
async def console(client):
    """Log a console user in against the running test app: `await console("li", role="admin")`."""
    opened: list[Console] = []

    async def open_console(name: str, role: str = "caseworker") -> Console:
        add_user(client.app, name, role)
        c = Console(str(client.make_url("")))
        assert await c.log_in(name) == 303, c.page
        opened.append(c)
        return c

    yield open_console
    for c in opened:
        await c.close()
