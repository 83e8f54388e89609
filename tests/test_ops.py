"""Operators' side: /healthz, /readyz, /metrics, JSON logs, graceful shutdown under load, and
online backups. The real app, real WeChat XML, real SQLite files; the load test runs the real
`gigdesk serve` as a process and stops it with SIGTERM."""
from __future__ import annotations

import asyncio
import io
import itertools
import json
import logging
import re
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.app import ENGINE, OUTBOX, STORE, create_app
from bot.logs import configure_logging
from bot.settings import DEMO_TOKEN
from storage import Store
from storage.retention import rider_hash
from tests.conftest import reply_content, send_text, signed_query, wechat_xml
from tests.test_cli import clean_env, free_port, wait_for

KNOWLEDGE = Path(__file__).parent.parent / "knowledge"
OPENID = "oGigdeskOpsTestRider00000001"  # 28 characters, like WeChat's openids
OTHER_OPENID = "oGigdeskOpsTestRider00000002"
pytestmark = pytest.mark.both_backends
assert len(OPENID) == len(OTHER_OPENID) == 28


async def deadline_poll(predicate, timeout: float = 10.0, what: str = "condition"):
    """Await predicate() until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} after {timeout}s (last: {value!r})")
        await asyncio.sleep(0.05)


# --- /healthz and /readyz -------------------------------------------------------------------------

async def test_healthz_answers_while_the_process_serves(client):
    resp = await client.get("/healthz")
    assert resp.status == 200
    assert await resp.json() == {"status": "ok"}


async def test_readyz_is_ready_and_its_write_check_leaves_no_trace(client):
    store = client.app[STORE].store
    audit_before = store.db["audit"].count
    resp = await client.get("/readyz")
    assert resp.status == 200
    body = await resp.json()
    assert body == {"ready": True, "checks": {"serving": "ok", "database": "ok", "knowledge": "ok",
                                              "outbox": "ok"}}
    assert store.db["audit"].count == audit_before  # the test write was rolled back


async def test_readyz_names_the_database_while_another_process_holds_the_write_lock(client, settings):
    # What an IT person causes by leaving `sqlite3 gigdesk.db` open inside BEGIN IMMEDIATE (on
    # PostgreSQL: a psql session holding a lock on the table the check writes to).
    if settings.database_url:
        other = client.app[STORE].store.reopen().db.conn
        other.execute("BEGIN")
        other.execute("LOCK TABLE audit IN EXCLUSIVE MODE")
    else:
        other = sqlite3.connect(settings.db_path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
    try:
        resp = await client.get("/readyz")
        assert resp.status == 503
        body = await resp.json()
        assert body["ready"] is False and body["failed"] == ["database"]
        assert body["checks"]["database"].startswith("数据库无法写入")
        assert "数据库无法写入" in body["error"] and body["checks"]["knowledge"] == "ok"
    finally:
        other.execute("ROLLBACK")
        other.close()
    resp = await client.get("/readyz")
    assert resp.status == 200  # ready again once the lock is gone


async def test_readyz_names_a_stuck_outbox(client):
    app = client.app
    outbox, store = app[OUTBOX], app[STORE]
    assert await outbox.stop(5)  # the sender has stopped: nothing due gets sent any more
    now = time.time()
    await send_text(client, "你好", openid=OPENID)
    # Due one minute ago: within outbox_stuck_minutes (10), still ready.
    await store.run(store.store.enqueue_outbox, f"wechat:{OPENID}", OPENID, "稍等", None, now - 60)
    assert (await client.get("/readyz")).status == 200
    await store.run(store.store.enqueue_outbox, f"wechat:{OPENID}", OPENID, "回复", None, now - 25 * 60)
    resp = await client.get("/readyz")
    assert resp.status == 503
    body = await resp.json()
    assert body["failed"] == ["outbox"]
    assert "发送队列卡住了" in body["checks"]["outbox"] and "25 分钟" in body["checks"]["outbox"]


async def test_readyz_turns_503_once_shutdown_begins(client):
    assert (await client.get("/readyz")).status == 200
    await client.app.shutdown()  # what run_app does first on SIGTERM, after closing the listener
    resp = await client.get("/readyz")
    assert resp.status == 503
    body = await resp.json()
    assert body["failed"] == ["serving"] and "正在停止服务" in body["error"]
    assert (await client.get("/healthz")).status == 200  # the process still serves meanwhile


async def test_stopping_lets_the_send_in_progress_finish_and_be_recorded(client, fake_wechat):
    app = client.app
    outbox, store = app[OUTBOX], app[STORE].store
    await send_text(client, "你好", openid=OPENID)
    fake_wechat.delay = 1.0  # WeChat is slow to answer the send
    first = await outbox.enqueue(f"wechat:{OPENID}", OPENID, "第一条")
    second = await outbox.enqueue(f"wechat:{OPENID}", OPENID, "第二条")

    async def sending():
        return fake_wechat.token_calls  # the access_token is fetched as the first send begins
    await deadline_poll(sending, 10, "the first send under way")
    await app.shutdown()  # what SIGTERM starts
    # The send under way finished and was recorded as sent: after a restart it is not sent
    # twice. The next one was not started and waits, queued, for the restart.
    assert [s["body"]["text"]["content"] for s in fake_wechat.sent] == ["第一条"]
    assert store.outbox_item(first)["state"] == "sent"
    assert store.outbox_item(second)["state"] == "queued"


# --- /metrics -------------------------------------------------------------------------------------

async def scrape(client, **kwargs) -> dict[tuple[str, frozenset], float]:
    resp = await client.get("/metrics", **kwargs)
    assert resp.status == 200, await resp.text()
    assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(await resp.text()) for s in family.samples}


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def test_metrics_count_requests_by_route_pattern_and_status(client):
    for path in ("/api/conversations/1", "/api/conversations/987654", "/api/conversations/abc"):
        assert (await client.get(path)).status == 401  # not logged in
    assert (await client.get("/no/such/page/x7")).status == 404
    assert (await client.get("/healthz")).status == 200
    samples = await scrape(client)
    requests = "gigdesk_http_requests_total"
    assert value(samples, requests, route="/api/conversations/{id}", method="GET", status="401") == 3
    assert value(samples, requests, route="(no route)", method="GET", status="404") == 1
    assert value(samples, requests, route="/healthz", method="GET", status="200") == 1
    routes = {dict(labels).get("route") for name, labels in samples if name == requests}
    assert not any("987654" in r or "x7" in r for r in routes)  # never the raw path


async def test_metrics_show_webhook_latency_and_matcher_outcomes(client):
    await send_text(client, "押金不给退怎么办", openid=OPENID)
    await send_text(client, "今天天气怎么样呀", openid=OTHER_OPENID)
    await send_text(client, "被车撞了流血", openid="oGigdeskOpsTestRider00000003")
    await send_text(client, "转人工", openid="oGigdeskOpsTestRider00000004")
    samples = await scrape(client)
    assert value(samples, "gigdesk_webhook_seconds_count") == 4
    assert value(samples, "gigdesk_webhook_seconds_bucket", le="+Inf") == 4
    assert value(samples, "gigdesk_webhook_seconds_sum") > 0
    assert value(samples, "gigdesk_http_requests_total", route="/wechat", method="POST", status="200") == 4
    outcomes = {dict(labels)["outcome"]: v for (name, labels), v in samples.items()
                if name == "gigdesk_engine_outcomes_total"}
    assert outcomes == {"answer": 1, "fallback": 1, "emergency": 1, "handoff": 1}
    # one at a time here: each message its own transaction; nothing left waiting
    assert value(samples, "gigdesk_deliveries_written_total") == 4
    assert value(samples, "gigdesk_delivery_batches_total") == 4
    assert value(samples, "gigdesk_deliveries_waiting") == 0
    assert value(samples, "gigdesk_reading_cache_misses_total") > 0


async def test_metrics_show_the_handoff_queue_and_its_oldest_wait(client):
    store = client.app[STORE]
    samples = await scrape(client)
    assert value(samples, "gigdesk_handoff_waiting", urgent="no") == 0
    assert value(samples, "gigdesk_handoff_oldest_wait_seconds") == 0
    await send_text(client, "转人工", openid=OPENID)
    await send_text(client, "被车撞了流血", openid=OTHER_OPENID)
    now = time.time()
    conversation = await store.run(store.store.open_conversation, f"wechat:{OPENID}", now)
    assert conversation["state"] == "waiting"
    await store.run(lambda: store.store.update_conversation(conversation["id"], now, waiting_since=now - 600))
    samples = await scrape(client)
    assert value(samples, "gigdesk_handoff_waiting", urgent="no") == 1
    assert value(samples, "gigdesk_handoff_waiting", urgent="yes") == 1
    assert 600 <= value(samples, "gigdesk_handoff_oldest_wait_seconds") < 600 + (time.time() - now) + 1


async def test_metrics_show_outbox_backlog_and_failures(client, fake_wechat):
    app = client.app
    outbox, store = app[OUTBOX], app[STORE]
    await send_text(client, "你好", openid=OPENID)  # the rider wrote: window open
    # A rider silent for 49 hours: WeChat would refuse, so the reply is held.
    await store.run(lambda: store.store.touch_rider("wechat", OTHER_OPENID, time.time() - 49 * 3600))
    fake_wechat.script = [43004, -1]  # not following the account (for good), then busy (retry)
    await outbox.enqueue(f"wechat:{OPENID}", OPENID, "第一条")
    await outbox.enqueue(f"wechat:{OPENID}", OPENID, "第二条")
    await outbox.enqueue(f"wechat:{OTHER_OPENID}", OTHER_OPENID, "第三条")

    async def attempts():
        samples = await scrape(client)
        found = {result: value(samples, "gigdesk_outbox_attempts_total", result=result)
                 for result in ("failed", "retry", "held", "sent")}
        return samples if found == {"failed": 1, "retry": 1, "held": 1, "sent": 1} else None
    samples = await deadline_poll(attempts, 15, "failed, retry, held and sent attempts")  # retry after 2 s
    assert value(samples, "gigdesk_outbox_messages", state="failed") == 1
    assert value(samples, "gigdesk_outbox_messages", state="held") == 1
    assert value(samples, "gigdesk_outbox_messages", state="queued") == 0

    assert await outbox.stop(5)
    await outbox.enqueue(f"wechat:{OPENID}", OPENID, "第四条")
    samples = await scrape(client)
    assert value(samples, "gigdesk_outbox_messages", state="queued") == 1


async def test_metrics_count_knowledge_reloads_and_errors(aiohttp_client, settings, tmp_path):
    kb_dir = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE, kb_dir)
    client = await aiohttp_client(create_app(settings.with_overrides(knowledge_dir=str(kb_dir),
                                                                     knowledge_poll_seconds=0.05)))
    samples = await scrape(client)
    assert value(samples, "gigdesk_knowledge_reloads_total") == 0
    entries = value(samples, "gigdesk_knowledge_entries")
    assert entries > 10
    path = kb_dir / "faq" / "pay.yaml"
    path.write_text(path.read_text("utf-8").replace("保存交钱的证据", "先把交钱的证据存好"), "utf-8")

    async def reloaded():
        return value(await scrape(client), "gigdesk_knowledge_reloads_total") == 1
    await deadline_poll(reloaded, 10, "reload counted")
    path.write_text(path.read_text("utf-8").replace("entries:", "entries: [oops", 1), "utf-8")

    async def refused():
        samples = await scrape(client)
        return samples if value(samples, "gigdesk_knowledge_reload_errors_total") == 1 else None
    samples = await deadline_poll(refused, 10, "reload error counted")
    assert value(samples, "gigdesk_knowledge_reloads_total") == 1
    assert value(samples, "gigdesk_knowledge_entries") == entries  # the last good version serves


async def test_metrics_token_is_required_when_set(aiohttp_client, settings):
    client = await aiohttp_client(create_app(settings.with_overrides(metrics_token="s3cret-scrape")))
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic s3cret-scrape"}):
        resp = await client.get("/metrics", headers=headers)
        assert resp.status == 401
        assert "令牌" in (await resp.json())["error"]
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    samples = await scrape(client, headers={"Authorization": "Bearer s3cret-scrape"})
    assert value(samples, "gigdesk_http_requests_total", route="/metrics", method="GET", status="401") == 3


# --- structured logs ------------------------------------------------------------------------------

@pytest.fixture
def json_log():
    """The server's log handler, configured as `gigdesk serve` does, writing to a buffer."""
    buffer = io.StringIO()
    root = logging.getLogger()
    level = root.level
    handler = configure_logging("json", stream=buffer)
    yield buffer
    root.removeHandler(handler)
    root.setLevel(level)


def log_lines(buffer: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]  # each line a JSON object


def test_a_log_line_is_json_with_the_rider_hashed_and_the_phone_masked(json_log):
    logging.getLogger("gigdesk.test").warning(
        "rider wechat:%s wrote 我的电话 13812345678 (key m:%s:123)", OPENID, OPENID,
        extra={"rider": f"wechat:{OPENID}", "callback": "138 1234 5678", "attempt": 2})
    [line] = log_lines(json_log)
    pseudonym = f"rider:{rider_hash('wechat:' + OPENID)}"
    assert line["level"] == "WARNING" and line["logger"] == "gigdesk.test"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", line["time"])
    assert line["message"] == f"rider {pseudonym} wrote 我的电话 138****5678 (key m:{pseudonym}:123)"
    assert line["rider"] == pseudonym and line["callback"] == "138****5678" and line["attempt"] == 2
    assert OPENID not in json_log.getvalue() and "13812345678" not in json_log.getvalue()


def test_a_traceback_is_one_json_line_without_the_openid(json_log):
    try:
        raise ValueError(f"bad row for wechat:{OPENID} phone 13912345678")
    except ValueError:
        logging.getLogger("gigdesk.test").exception("outbox pass failed")
    [line] = log_lines(json_log)
    assert line["level"] == "ERROR" and "ValueError" in line["exception"]
    assert OPENID not in line["exception"] and "139****5678" in line["exception"]


async def test_the_outboxs_own_log_line_names_the_rider_only_by_hash(client, fake_wechat, json_log):
    await send_text(client, "你好", openid=OPENID)
    fake_wechat.script = [43004]
    await client.app[OUTBOX].enqueue(f"wechat:{OPENID}", OPENID, "回复")

    async def logged():
        return [line for line in log_lines(json_log) if "failed for good" in line["message"]]
    [line] = await deadline_poll(logged, 10, "the outbox's failure logged")
    assert line["logger"] == "gigdesk.outbox" and line["level"] == "ERROR"
    assert f"rider:{rider_hash('wechat:' + OPENID)}" in line["message"]
    assert OPENID not in json_log.getvalue()


# --- graceful shutdown under load ----------------------------------------------------------------

# Each is answered every time it is asked (none hands the rider to a person, after which the
# bot would stay quiet), so every acknowledged message has an answer to check.
QUESTIONS = ["押金不给退怎么办", "工资被拖欠怎么办", "送餐超时被罚款合理吗", "工伤怎么认定",
             "平台把我封号了怎么办", "天太热了有没有高温补贴"]
SHUTDOWN_TIMEOUT = 8


@dataclass
class Sent:
    openid: str
    msgid: str
    started: float
    finished: float
    status: int | None = None
    body: str = ""
    error: BaseException | None = None


async def drive(url: str, results: list[Sent], counter, stop: asyncio.Event) -> None:
    """One WeChat-like sender: distinct signed messages back to back until the server is gone."""
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        while not stop.is_set():
            n = next(counter)
            openid, msgid = f"oLoad{n % 40:023d}", str(10**15 + n)
            xml = wechat_xml("text", openid=openid, content=QUESTIONS[n % len(QUESTIONS)], msgid=msgid)
            started = time.monotonic()
            try:
                async with session.post(url + signed_query(token=DEMO_TOKEN), data=xml.encode()) as resp:
                    body = await resp.text()
                results.append(Sent(openid, msgid, started, time.monotonic(), resp.status, body))
            except aiohttp.ClientError as exc:
                results.append(Sent(openid, msgid, started, time.monotonic(), error=exc))
                if isinstance(exc, aiohttp.ClientConnectorError):
                    return  # connection refused: the listener is closed


async def test_sigterm_under_load_finishes_accepted_requests_and_loses_nothing(tmp_path):
    port, data_dir = free_port(), tmp_path / "data"
    out, err = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    env = clean_env(GIGDESK_SHUTDOWN_TIMEOUT=str(SHUTDOWN_TIMEOUT), GIGDESK_LOG_FORMAT="json")
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve", "--demo", "--port", str(port),
                                 "--data-dir", str(data_dir)], cwd=tmp_path, env=env, stdout=stdout, stderr=stderr)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: "serving" in out.read_text("utf-8"), 30, "the banner", proc, err)

        async def healthy():
            try:
                async with aiohttp.ClientSession() as s, s.get(url + "/healthz") as resp:
                    return resp.status == 200
            except aiohttp.ClientError:
                return False
        await deadline_poll(healthy, 30, "/healthz 200")

        results: list[Sent] = []
        stop, counter = asyncio.Event(), itertools.count()
        senders = [asyncio.create_task(drive(url, results, counter, stop)) for _ in range(24)]
        async def under_load():
            return len(results) >= 150
        await deadline_poll(under_load, 60, "150 answers before SIGTERM")
        sigterm_at = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        returncode = await asyncio.to_thread(proc.wait, SHUTDOWN_TIMEOUT + 5)
        stop.set()
        await asyncio.wait_for(asyncio.gather(*senders), 60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)

    logs = err.read_text("utf-8")
    assert returncode == 0, logs
    answered = [r for r in results if r.error is None]
    cut = [r for r in results if r.error is not None]
    # Every response received is a 200 with an answer in it.
    assert all(r.status == 200 and r.body.startswith("<xml>") and reply_content(r.body) for r in answered), \
        [(r.status, r.body[:200]) for r in answered if not r.body.startswith("<xml>")][:3]
    # Failures are refused or closed connections, never a timeout or a response cut off
    # half way, and none before the signal.
    assert all(isinstance(r.error, aiohttp.ClientConnectionError) and not isinstance(r.error, TimeoutError)
               for r in cut), [repr(r.error) for r in cut][:3]
    assert all(r.finished >= sigterm_at for r in cut)
    # Requests in progress when the signal came were finished, not dropped.
    assert any(r.started < sigterm_at < r.finished for r in answered)
    # Nothing acknowledged is lost, and nothing unacknowledged was half done: the database holds
    # exactly the messages that got a 200, each with the answer that was sent.
    db = sqlite3.connect(data_dir / "gigdesk.db")
    deliveries = {key: json.loads(replies or "[]") for key, replies in db.execute("SELECT key, replies FROM deliveries")}
    assert set(deliveries) == {f"m:{r.openid}:{r.msgid}" for r in answered}
    assert all(deliveries[f"m:{r.openid}:{r.msgid}"] == [reply_content(r.body)] for r in answered)
    assert db.execute("SELECT COUNT(*) FROM messages WHERE direction = 'in'").fetchone()[0] == len(answered)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()
    # The log: one JSON object a line, the stop announced and completed, no openid in it.
    lines = [json.loads(line) for line in logs.splitlines() if line.strip()]
    messages = [line["message"] for line in lines]
    assert any(m.startswith("stopping:") for m in messages) and any(m.startswith("stopped:") for m in messages)
    assert "oLoad" not in logs


# --- backups --------------------------------------------------------------------------------------

def gigdesk(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], cwd=cwd, env=clean_env(),
                          capture_output=True, text=True, encoding="utf-8", timeout=60)


def test_backup_while_another_process_writes_is_consistent(tmp_path):
    data_dir = tmp_path / "data"
    Store(data_dir / "gigdesk.db").close()  # the database as `serve` creates it
    writing, written = threading.Event(), []

    def writer():
        store = Store(data_dir / "gigdesk.db")
        try:
            for n in itertools.count():
                if writing.is_set() and n > 200:
                    break
                with store.transaction():  # a rider's message and its answer, as the engine writes them
                    rider = store.touch_rider("wechat", f"oBackup{n:021d}", time.time())
                    conversation = store.open_conversation(rider["id"], time.time())
                    store.add_message(conversation, "in", time.time(), kind="text", text="押金不给退怎么办")
                    store.add_message(conversation, "out", time.time(), kind="text", text="先这样做……")
                written.append(n)
        finally:
            store.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while len(written) < 50:  # writes under way before the backup starts
            time.sleep(0.01)
        backups = tmp_path / "backups"
        backups.mkdir()
        result = gigdesk("backup", str(backups / "copy.db"), "--data-dir", str(data_dir), cwd=tmp_path)
        during = len(written)
        dated = gigdesk("backup", str(backups), "--data-dir", str(data_dir), cwd=tmp_path)
    finally:
        writing.set()
        thread.join(timeout=60)
    assert result.returncode == 0, result.stderr
    assert dated.returncode == 0, dated.stderr
    assert len(written) > during  # the writer kept going through the backup
    copy = backups / "copy.db"
    assert "integrity ok" in result.stdout and str(copy) in result.stdout
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    assert not list(backups.glob("*.part"))
    [dated_copy] = [p for p in backups.iterdir() if re.fullmatch(r"gigdesk-\d{8}-\d{6}\.db", p.name)]
    for path in (copy, dated_copy):
        db = sqlite3.connect(path)
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # one self-contained file
        riders = db.execute("SELECT COUNT(*) FROM riders").fetchone()[0]
        # A snapshot between two transactions: every rider has both messages, never one alone.
        assert db.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 2 * riders
        assert 50 <= riders <= len(written)
        db.close()
    Store(copy).close()  # the copy opens as a gigdesk database (migrations already applied)


def test_backup_without_a_database_says_so_in_one_line(tmp_path):
    result = gigdesk("backup", str(tmp_path / "copy.db"), "--data-dir", str(tmp_path / "nowhere"), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"gigdesk: backup failed: no database at "
                                                  f"{tmp_path / 'nowhere' / 'gigdesk.db'} (wrong --data-dir?)"]
    assert not (tmp_path / "copy.db").exists()
