"""Crash test: kill -9 the real server in the middle of a load of WeChat messages, restart it on
the same data, and check what it promised.

    python bench/crash.py                        # 3,000 messages from 300 riders, 100 at a time
    python bench/crash.py --messages 20000 --concurrency 200 --kill-at 0.3

The server is `gigdesk serve` in a subprocess (plaintext mode, a test token) whose WeChat API
is a fake on loopback in this process. Before the load, riders ask for a person and a
caseworker answers them through the console API while the fake WeChat refuses every call
(errcode -1), so those replies wait in the outbox. Then, with distinct signed text messages
in flight, the server gets SIGKILL and WeChat comes back. After the restart:

- every message that got HTTP 200 is in the database (its delivery key and its text, once);
- WeChat's retries of those messages, byte for byte, are recognised: the same reply, no
  second stored message; messages that got no answer are stored exactly once when retried;
- the outbox resumes: every caseworker reply reaches WeChat exactly once, in the order written.

With --servers 2, two `gigdesk serve` processes share the database (the same SQLite file, or
PostgreSQL with --database-url) and the messages are spread over both. One of them is
killed; the other keeps answering. The retries of the killed one's messages are sent to the
survivor (WeChat's retry reaching another instance), and must be recognised there, before
the killed one is started again. Both outboxes run, and each reply must still arrive once.

tests/test_crash.py runs the same scenario at a small scale in the suite, on both backends
and with two processes."""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.conftest import APPID, PASSWORD, TOKEN, Console, sign, wechat_xml  # noqa: E402

SECRET = "crash-secret"


# --- the fake WeChat API -------------------------------------------------------------------------
@dataclass
class SwitchableWeChat:
    """Answers customer-service sends with errcode -1 until `healthy`; records every call."""
    healthy: bool = False
    calls: list[dict] = field(default_factory=list)  # {touser, text, ok}
    url: str = ""
    _runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/cgi-bin/stable_token", self._token)
        app.router.add_post("/cgi-bin/message/custom/send", self._send)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()

    async def _token(self, request: web.Request) -> web.Response:
        return web.json_response({"access_token": "CRASHTOKEN", "expires_in": 7200})

    async def _send(self, request: web.Request) -> web.Response:
        body = json.loads(await request.read())
        self.calls.append({"touser": body["touser"], "text": body["text"]["content"], "ok": self.healthy})
        if self.healthy:
            return web.json_response({"errcode": 0, "errmsg": "ok"})
        return web.json_response({"errcode": -1, "errmsg": "system error"})

    def confirmed(self) -> Counter:
        return Counter((c["touser"], c["text"]) for c in self.calls if c["ok"])


# --- the server under test ---------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`gigdesk serve` as a subprocess, restartable on the same data directory and port."""

    def __init__(self, data_dir: Path, api_base: str, database_url: str = "", name: str = "server",
                 serve_args: tuple[str, ...] = ()):
        self.data_dir, self.name, self.serve_args = data_dir, name, serve_args
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "WECHAT_TOKEN": TOKEN, "WECHAT_APPID": APPID, "WECHAT_SECRET": SECRET,
                    "WECHAT_API_BASE": api_base, "GIGDESK_KNOWLEDGE_POLL_SECONDS": "3600",
                    "GIGDESK_OFFICE_HOURS": "always", "PYTHONUNBUFFERED": "1",
                    "GIGDESK_DATABASE_URL": database_url}
        self.env.pop("WECHAT_AES_KEY", None)
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def _log(self, start: int) -> Path:
        return self.data_dir / f"{self.name}-{start}.log"

    async def start(self, timeout: float = 60.0) -> float:
        """Start and wait until the webhook answers; seconds it took."""
        self.starts += 1
        log = open(self._log(self.starts), "wb")
        started = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "serve", "--host", "127.0.0.1", "--port", str(self.port),
             "--data-dir", str(self.data_dir), *self.serve_args], cwd=ROOT, env=self.env, stdout=log,
            stderr=subprocess.STDOUT)
        log.close()
        async with aiohttp.ClientSession() as session:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log_tail()}")
                try:
                    async with session.get(self.base + signed_query() + "&echostr=ready",
                                           timeout=aiohttp.ClientTimeout(total=2)) as resp:
                        if resp.status == 200 and await resp.text() == "ready":
                            return time.monotonic() - started
                except (aiohttp.ClientError, asyncio.TimeoutError):
                    pass
                if time.monotonic() - started > timeout:
                    raise RuntimeError(f"server not ready after {timeout}s:\n{self.log_tail()}")
                await asyncio.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no flushing, as when the machine's OOM killer strikes."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log_tail(self, lines: int = 30) -> str:
        text = "".join(self._log(i).read_text("utf-8", "replace") for i in range(1, self.starts + 1))
        return "\n".join(text.splitlines()[-lines:])


def signed_query(timestamp: str | None = None, nonce: str | None = None) -> str:
    timestamp = timestamp or str(int(time.time()))
    nonce = nonce or str(random.randint(10**8, 10**9))
    return "/wechat?" + urlencode({"signature": sign(TOKEN, timestamp, nonce), "timestamp": timestamp,
                                   "nonce": nonce, "openid": "o"})


def add_caseworker(data_dir: Path, database_url: str, name: str) -> None:
    """Straight into the database before the first start, as `gigdesk user add` would."""
    from bot.console.auth import hash_password
    from storage import open_store
    store = open_store(database_url, data_dir / "gigdesk.db")
    store.add_user(name, "caseworker", hash_password(PASSWORD), time.time())
    store.close()


# --- the messages --------------------------------------------------------------------------------
@dataclass
class Message:
    openid: str
    msgid: str
    text: str
    query: str
    xml: bytes
    status: int | None = None  # None: no answer (the server died first)
    reply: str | None = None
    answered_by: str = ""

    @property
    def key(self) -> str:
        return f"m:{self.openid}:{self.msgid}"


QUESTIONS = ["押金不给退怎么办", "工资被扣了找谁", "送餐路上摔伤了算工伤吗", "平台罚款合理吗", "天太热了能停工吗",
             "超时被罚款", "怎么加入工会", "保险怎么理赔", "站长不发工资", "每天要跑多少小时"]


def make_messages(count: int, riders: int) -> list[Message]:
    messages = []
    for i in range(count):
        openid = f"o_crash_{i % riders}"
        msgid = str(7_000_000_000_000_000 + i)
        text = f"{QUESTIONS[i % len(QUESTIONS)]}（第{i}条）"  # distinct, so each is found by its text
        xml = wechat_xml("text", openid=openid, msgid=msgid, content=text).encode()
        messages.append(Message(openid, msgid, text, signed_query(), xml))
    return messages


def reply_content(body: str) -> str:
    import xmltodict
    return "" if body in ("", "success") else xmltodict.parse(body)["xml"]["Content"] or ""


async def post(session: aiohttp.ClientSession, base: str, message: Message) -> tuple[int, str]:
    async with session.post(base + message.query, data=message.xml,
                            timeout=aiohttp.ClientTimeout(total=30)) as resp:
        return resp.status, await resp.text()


async def load_until_killed(servers: list[Server], messages: list[Message], concurrency: int,
                            kill_at: float) -> int:
    """Send every message, `concurrency` at a time, each to one of the servers; SIGKILL the
    first server once kill_at of them have been answered. The others keep being
    sent theirs. Returns how many requests were in flight to the killed one at the kill."""
    server = servers[0]
    answered = 0
    in_flight = 0
    at_kill = -1
    kill_now = asyncio.Event()
    gate = asyncio.Semaphore(concurrency)

    async def one(session: aiohttp.ClientSession, message: Message, target: Server) -> None:
        nonlocal answered, in_flight
        async with gate:
            if at_kill >= 0 and target is server:
                return  # the server is gone; WeChat would retry later
            in_flight += target is server
            try:
                status, body = await post(session, target.base, message)
                message.status, message.reply = status, reply_content(body) if status == 200 else None
                message.answered_by = target.name
                answered += 1
                if answered >= kill_at * len(messages):
                    kill_now.set()
            except (aiohttp.ClientError, asyncio.TimeoutError):
                pass
            finally:
                in_flight -= target is server

    async def killer() -> None:
        nonlocal at_kill
        await kill_now.wait()
        at_kill = in_flight
        server.kill()

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        kill_task = asyncio.create_task(killer())
        # Each rider's messages go to either server at random (seeded): a conversation is
        # written by both processes in turn, as behind nginx.
        await asyncio.gather(*(one(session, m, servers[random.Random(i).randrange(len(servers))])
                               for i, m in enumerate(messages)))
        if not kill_task.done():  # everything was answered before the threshold: kill now
            kill_now.set()
        await kill_task
    return at_kill


# --- caseworker replies waiting in the outbox ----------------------------------------------------
async def queue_replies(server: Server, fake: SwitchableWeChat, riders: int, per_rider: int,
                        timeout: float = 30.0) -> dict[str, list[str]]:
    """Riders ask for a person; caseworker li answers each; WeChat refuses them all (once at
    least, so they are known to be waiting). {openid: replies in the order written}."""
    async with aiohttp.ClientSession() as session:
        for r in range(riders):
            xml = wechat_xml("text", openid=f"o_wait_{r}", content=f"转人工 等待{r}",
                             msgid=str(8_000_000_000_000_000 + r)).encode()
            async with session.post(server.base + signed_query(), data=xml) as resp:
                assert resp.status == 200, await resp.text()
    li = Console(server.base)
    try:
        assert await li.log_in("li") == 303, li.page
        _, queue = await li.get("/api/queue")
        written: dict[str, list[str]] = {}
        for c in queue["conversations"]:
            if not (c["last_text"] or "").startswith("转人工 等待"):
                continue
            openid = f"o_wait_{c['last_text'].split('等待')[1]}"
            status, body = await li.post(f"/api/conversations/{c['id']}/claim")
            assert status == 200, body
            for j in range(per_rider):
                text = f"{openid} 的第{j + 1}条回复"
                status, body = await li.post(f"/api/conversations/{c['id']}/messages", {"text": text})
                assert status == 200, body
                written.setdefault(openid, []).append(text)
        assert len(written) == riders, written
    finally:
        await li.close()
    # Each rider's first reply has been tried and refused; the later ones wait behind it.
    firsts = {ts[0] for ts in written.values()}
    deadline = time.monotonic() + timeout
    while not firsts <= {c["text"] for c in fake.calls}:
        assert time.monotonic() < deadline, "the outbox did not try the replies"
        await asyncio.sleep(0.05)
    states = read_db(server, "SELECT state, COUNT(*) FROM outbox WHERE rider_id LIKE 'wechat:o_wait_%' "
                             "GROUP BY state")
    assert states == [("queued", sum(len(ts) for ts in written.values()))], states
    return written


# --- after the restart ---------------------------------------------------------------------------
def read_db(server: Server, sql: str) -> list[tuple]:
    """Rows of a query (no parameters, the same SQL on both backends), read as an outsider."""
    url = server.env["GIGDESK_DATABASE_URL"]
    if url:
        import psycopg
        with psycopg.connect(url) as conn:
            return [tuple(row) for row in conn.execute(sql).fetchall()]
    conn = sqlite3.connect(f"file:{server.data_dir / 'gigdesk.db'}?mode=ro", uri=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def stored(server: Server, messages: list[Message]) -> tuple[set[str], Counter]:
    """Delivery keys in the database, and how often each message's text is stored as incoming."""
    keys = {k for (k,) in read_db(server, "SELECT key FROM deliveries WHERE key LIKE 'm:o_crash_%'")}
    texts = Counter(t for (t,) in read_db(server, "SELECT text FROM messages WHERE direction = 'in' "
                                                  "AND rider_id LIKE 'wechat:o_crash_%'"))
    return keys, Counter({m.key: texts[m.text] for m in messages})


async def resend(server: Server, messages: list[Message], concurrency: int) -> list[tuple[Message, int, str]]:
    """WeChat's retries: the same query (timestamp, nonce, signature) and the same body."""
    gate = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession() as session:
        async def one(m: Message):
            async with gate:
                status, body = await post(session, server.base, m)
                return m, status, reply_content(body) if status == 200 else body
        return await asyncio.gather(*(one(m) for m in messages))


async def wait_delivered(fake: SwitchableWeChat, expected: dict[str, list[str]], timeout: float,
                         started: float) -> float:
    """Seconds from `started` (the restart) until every reply reached WeChat."""
    want = {(o, t) for o, ts in expected.items() for t in ts}
    while not want <= set(fake.confirmed()):
        if time.monotonic() - started > timeout:
            missing = want - set(fake.confirmed())
            raise AssertionError(f"{len(missing)} caseworker replies not delivered after {timeout}s: "
                                 f"{sorted(missing)[:5]}")
        await asyncio.sleep(0.05)
    return time.monotonic() - started


@dataclass
class Report:
    messages: int = 0
    servers: int = 1
    answered_200: int = 0
    answered_by_survivor: int = 0  # with two servers: by the one not killed
    unanswered: int = 0
    in_flight_at_kill: int = 0
    lost: list[str] = field(default_factory=list)  # got 200 but not in the database
    doubled: list[str] = field(default_factory=list)  # stored more than once
    retries_not_recognised: list[str] = field(default_factory=list)
    retries_reply_changed: list[str] = field(default_factory=list)
    unanswered_stored_after_retry: int = 0
    replies_queued: int = 0
    replies_delivered_once: int = 0
    replies_duplicated: list[str] = field(default_factory=list)
    replies_out_of_order: list[str] = field(default_factory=list)
    restart_seconds: float = 0.0
    outbox_resume_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not (self.lost or self.doubled or self.retries_not_recognised or self.retries_reply_changed
                    or self.replies_duplicated or self.replies_out_of_order) \
            and self.replies_delivered_once == self.replies_queued \
            and self.unanswered_stored_after_retry == self.unanswered

    def lines(self) -> list[str]:
        two = self.servers > 1
        return [
            f"messages sent                    {self.messages}" + (f" to {self.servers} processes" if two else ""),
            f"answered 200                     {self.answered_200}"
            + (f" ({self.answered_by_survivor} by the process not killed)" if two else " before the kill"),
            f"no answer (killed)               {self.unanswered}  ({self.in_flight_at_kill} in flight at SIGKILL)",
            f"200 but not stored (lost)        {len(self.lost)}",
            f"stored twice                     {len(self.doubled)}",
            f"retries of 200s not recognised   {len(self.retries_not_recognised)}"
            + (" (sent to the process not killed)" if two else ""),
            f"retries answered differently     {len(self.retries_reply_changed)}",
            f"unanswered, stored once on retry {self.unanswered_stored_after_retry}/{self.unanswered}",
            f"caseworker replies in outbox     {self.replies_queued}",
            f"delivered exactly once           {self.replies_delivered_once}",
            f"delivered twice                  {len(self.replies_duplicated)}",
            f"riders with replies out of order {len(self.replies_out_of_order)}",
            f"restart until answering          {self.restart_seconds:.1f} s"
            + (" (after the retries)" if two else ""),
            f"outbox drained after restart     {self.outbox_resume_seconds:.1f} s",
            "RESULT: " + ("all promises kept" if self.ok else "PROMISES BROKEN (see above)"),
        ]


async def run_crash(data_dir: Path, messages: int = 3000, riders: int = 300, concurrency: int = 100,
                    kill_at: float = 0.5, waiting_riders: int = 3, replies_each: int = 3,
                    outbox_timeout: float = 60.0, servers: int = 1, database_url: str = "") -> Report:
    report = Report(messages=messages, servers=servers)
    fake = SwitchableWeChat()
    await fake.start()
    add_caseworker(data_dir, database_url, "li")
    fleet = [Server(data_dir, fake.url, database_url, name=f"server{i + 1}") for i in range(servers)]
    killed, survivor = fleet[0], fleet[-1]  # the same one with a single server
    try:
        for server in fleet:
            await server.start()
        written = await queue_replies(killed, fake, waiting_riders, replies_each)
        report.replies_queued = sum(len(t) for t in written.values())

        load = make_messages(messages, riders)
        report.in_flight_at_kill = await load_until_killed(fleet, load, concurrency, kill_at)
        answered = [m for m in load if m.status == 200]
        silent = [m for m in load if m.status is None]
        report.answered_200, report.unanswered = len(answered), len(silent)
        report.answered_by_survivor = sum(1 for m in answered if m.answered_by == survivor.name) \
            if servers > 1 else 0
        assert all(m.status in (200, None) for m in load), Counter(m.status for m in load)

        fake.healthy = True  # WeChat is back while the killed one is down
        if servers == 1:
            report.restart_seconds = await killed.start()
        restarted = time.monotonic()

        keys, counts = stored(survivor, load)
        report.lost = [m.key for m in answered if m.key not in keys or counts[m.key] == 0]
        # With two servers the retries go to the one still running, before the other is back.
        for m, status, reply in await resend(survivor, answered, concurrency):
            if status != 200:
                report.retries_not_recognised.append(f"{m.key}: HTTP {status} {reply[:80]}")
            elif reply != m.reply and reply != "":
                report.retries_reply_changed.append(m.key)
        await resend(survivor, silent, concurrency)
        keys, counts = stored(survivor, load)
        report.doubled = [k for k, n in counts.items() if n > 1]  # a retry taken for a new message
        report.unanswered_stored_after_retry = sum(1 for m in silent if m.key in keys and counts[m.key] == 1)
        if servers > 1:
            report.restart_seconds = await killed.start()

        report.outbox_resume_seconds = await wait_delivered(fake, written, outbox_timeout, restarted)
        confirmed = fake.confirmed()
        for openid, texts in written.items():
            report.replies_delivered_once += sum(1 for t in texts if confirmed[(openid, t)] == 1)
            report.replies_duplicated += [t for t in texts if confirmed[(openid, t)] > 1]
            arrived = [c["text"] for c in fake.calls if c["ok"] and c["touser"] == openid]
            if arrived != texts:
                report.replies_out_of_order.append(openid)
    finally:
        for server in fleet:
            server.stop()
        await fake.stop()
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--riders", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--kill-at", type=float, default=0.5, help="share of answered messages at SIGKILL")
    parser.add_argument("--servers", type=int, default=1, choices=(1, 2),
                        help="2: two processes share the database and one of them is killed")
    parser.add_argument("--database-url", default="", help="PostgreSQL (an empty database); default SQLite")
    parser.add_argument("--keep", action="store_true", help="keep the data directory and server logs")
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="gigdesk-crash-"))
    started = time.monotonic()
    report = asyncio.run(run_crash(data_dir, args.messages, args.riders, args.concurrency, args.kill_at,
                                   servers=args.servers, database_url=args.database_url))
    print(f"gigdesk crash test: kill -9 at {args.kill_at:.0%} of {args.messages} messages, "
          f"{args.concurrency} at a time, {args.servers} process(es) on "
          f"{'PostgreSQL' if args.database_url else 'SQLite'} ({time.monotonic() - started:.0f} s in all)")
    print("\n".join(report.lines()))
    if args.keep:
        print(f"data and server logs kept in {data_dir}")
    else:
        import shutil
        shutil.rmtree(data_dir, ignore_errors=True)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
