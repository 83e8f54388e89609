"""The `gigdesk` command run as a real process, with a clean environment and its own folder;
what it stores, on either backend (GIGDESK_DATABASE_URL set for PostgreSQL)."""
from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.both_backends

DEPOSIT = "押金不给退怎么办"
HANDOFF_TEXT = "已经帮你转给工作人员"  # knowledge/messages.yaml: handoff


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any gigdesk setting, so only what a test sets counts."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WECHAT_", "GIGDESK_"))}
    return {**env, "PYTHONIOENCODING": "utf-8", "PYTHONUNBUFFERED": "1", **extra}


@pytest.fixture
def backend_env(database_url) -> dict[str, str]:
    """A clean environment that points gigdesk at this test's database (none: SQLite)."""
    return clean_env(GIGDESK_DATABASE_URL=database_url)


def gigdesk(args: list[str], cwd: Path, env: dict[str, str] | None = None, stdin: str = "",
            timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], cwd=cwd, env=env or clean_env(),
                          input=stdin, capture_output=True, text=True, encoding="utf-8", timeout=timeout)


def refused(result: subprocess.CompletedProcess) -> str:
    """Assert the command refused to start with exactly one line on stderr; return that line."""
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "serving" not in result.stdout
    return lines[0]


# --- serve refuses to start without what it needs ------------------------------------------------

def test_serve_without_token_names_wechat_token(tmp_path):
    line = refused(gigdesk(["serve"], tmp_path))
    assert "WECHAT_TOKEN" in line
    assert not (tmp_path / "data").exists()  # refused before touching the database


def test_serve_with_42_character_aes_key_names_it_and_43(tmp_path):
    env = clean_env(WECHAT_TOKEN="t", WECHAT_APPID="wx1", WECHAT_SECRET="s", WECHAT_AES_KEY="a" * 42)
    line = refused(gigdesk(["serve"], tmp_path, env))
    assert "WECHAT_AES_KEY" in line and "43" in line


def test_serve_without_customer_service_credentials_names_them(tmp_path):
    line = refused(gigdesk(["serve"], tmp_path, clean_env(WECHAT_TOKEN="t")))
    assert "WECHAT_APPID" in line and "WECHAT_SECRET" in line


def test_gigdesk_toml_in_cwd_is_read(tmp_path):
    # the token comes from the file, so the complaint moves on to the next missing setting
    (tmp_path / "gigdesk.toml").write_text('wechat_token = "from-the-file"\n', encoding="utf-8")
    line = refused(gigdesk(["serve"], tmp_path))
    assert "WECHAT_TOKEN" not in line and "WECHAT_APPID" in line


def test_environment_wins_over_gigdesk_toml(tmp_path):
    (tmp_path / "gigdesk.toml").write_text(f'wechat_aes_key = "{"a" * 43}"\n', encoding="utf-8")
    env = clean_env(WECHAT_TOKEN="t", WECHAT_APPID="wx1", WECHAT_SECRET="s", WECHAT_AES_KEY="b" * 10)
    line = refused(gigdesk(["serve"], tmp_path, env))
    assert "WECHAT_AES_KEY" in line and "got 10" in line


@pytest.mark.parametrize("content, detail", [
    ('wechat_tokn = "x"\n', "wechat_tokn"),
    ('wechat_token = "x\n', "TOML"),
], ids=["unknown setting", "broken toml"])
def test_bad_gigdesk_toml_is_named_in_the_error(tmp_path, content, detail):
    (tmp_path / "gigdesk.toml").write_text(content, encoding="utf-8")
    line = refused(gigdesk(["serve", "--demo"], tmp_path))
    assert "gigdesk.toml" in line and detail in line


def test_missing_config_file_is_named(tmp_path):
    line = refused(gigdesk(["serve", "--demo", "--config", "elsewhere.toml"], tmp_path))
    assert "elsewhere.toml" in line


# --- serve --demo runs the real server -----------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float, what: str, proc: subprocess.Popen, logs: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if proc.poll() is not None:
            pytest.fail(f"gigdesk exited with {proc.returncode} before {what}:\n{logs.read_text('utf-8')}")
        time.sleep(0.05)
    pytest.fail(f"no {what} after {timeout}s:\n{logs.read_text('utf-8')}")


def http(url: str, body: dict | None = None) -> tuple[int, str]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            return resp.status, resp.read().decode("utf-8")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8")
    except (urllib.error.URLError, ConnectionError):
        return 0, ""


def test_serve_demo_answers_the_web_chat(tmp_path, backend_env, database_url, make_store):
    port, data_dir = free_port(), tmp_path / "data"
    out, err = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve", "--demo", "--port", str(port),
                                 "--data-dir", str(data_dir)], cwd=tmp_path, env=backend_env,
                                stdout=stdout, stderr=stderr)
    try:
        printed = wait_for(lambda: re.search(r"http://\S+/chat", out.read_text("utf-8")), 30,
                           "web chat address on stdout", proc, err)
        assert printed.group(0) == f"http://127.0.0.1:{port}/chat"
        status, page = wait_for(lambda: (r := http(printed.group(0)))[0] and r, 30, "answer on /chat", proc, err)
        assert status == 200 and 'id="composer"' in page
        status, body = http(f"http://127.0.0.1:{port}/chat/api/messages", {"text": DEPOSIT})
        assert status == 200, body
        reply = json.loads(body)["reply"]
        assert "押金" in reply and "依据" in reply
        assert (data_dir / "gigdesk.db").exists() != bool(database_url)  # a file only when it is the database
        demo = re.search(r"demo console account: demo / (\S+)", out.read_text("utf-8"))
        assert demo, "demo mode prints a console account"
        users = list(make_store(data_dir / "gigdesk.db").db["users"].rows)
        assert [(u["name"], u["role"]) for u in users] == [("demo", "admin")]
        assert demo.group(1) not in users[0]["password_hash"]

        proc.terminate()  # SIGTERM, as `docker stop` or systemd sends it
        assert proc.wait(timeout=15) == 0, err.read_text("utf-8")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


# --- chat in the terminal ------------------------------------------------------------------------

def test_chat_uses_a_throw_away_database_unless_asked(tmp_path, backend_env, database_url, make_store):
    data_dir = tmp_path / "data"
    result = gigdesk(["chat", "--data-dir", str(data_dir)], tmp_path, backend_env, stdin="转人工\nq\n")
    assert result.returncode == 0, result.stderr
    assert "临时数据库" in result.stdout and HANDOFF_TEXT in result.stdout
    # a running server's queue never sees it
    assert not (data_dir / "gigdesk.db").exists()
    if database_url:
        assert make_store().db["messages"].count == 0


def test_chat_keep_answers_hands_off_and_records(tmp_path, backend_env, database_url, make_store):
    data_dir = tmp_path / "data"
    result = gigdesk(["chat", "--keep", "--data-dir", str(data_dir)], tmp_path, backend_env,
                     stdin=f"{DEPOSIT}\n转人工\nq\n工资被拖欠怎么办\n")
    assert result.returncode == 0, result.stderr
    replies = [line for line in result.stdout.splitlines() if line.startswith("机器人：")]
    assert len(replies) == 2  # nothing after "q"
    where = "PostgreSQL（database_url）" if database_url else str(data_dir / "gigdesk.db")
    assert f"写入 {where}" in result.stdout and "终端测试" in result.stdout  # said loudly
    assert "押金" in replies[0]
    assert "依据" in result.stdout
    assert HANDOFF_TEXT in replies[1]

    db = make_store(data_dir / "gigdesk.db").db
    assert db["messages"].count == 4
    rows = sorted(db["messages"].rows, key=lambda r: r["id"])
    assert [r["direction"] for r in rows] == ["in", "out", "in", "out"]
    assert [r["text"] for r in rows if r["direction"] == "in"] == [DEPOSIT, "转人工"]
    assert len({r["rider_id"] for r in rows}) == 1
    assert list(db["conversations"].rows)[0]["state"] == "waiting"


def test_user_add_reads_the_password_from_stdin_and_the_account_can_log_in(tmp_path, backend_env, make_store):
    data, env = ["--data-dir", str(tmp_path / "data")], backend_env
    added = gigdesk(["user", "add", "li", "--role", "caseworker", *data], tmp_path, env, stdin="correct horse battery\n")
    assert added.returncode == 0, added.stderr
    assert "li" in gigdesk(["user", "list", *data], tmp_path, env).stdout
    assert "10" in refused(gigdesk(["user", "add", "wang", "--role", "admin", *data], tmp_path, env, stdin="short\n"))
    assert "role" in refused(gigdesk(["user", "add", "wang", "--role", "boss", *data], tmp_path, env, stdin="x" * 12))
    assert "exists" in refused(gigdesk(["user", "add", "li", "--role", "admin", *data], tmp_path, env, stdin="x" * 12))

    from bot.console.auth import verify_password
    db = make_store(tmp_path / "data" / "gigdesk.db").db

    def li() -> dict:
        return next(u for u in db["users"].rows if u["name"] == "li")
    assert li()["role"] == "caseworker" and verify_password(li()["password_hash"], "correct horse battery")
    assert gigdesk(["user", "disable", "li", *data], tmp_path, env).returncode == 0
    assert li()["active"] == 0
