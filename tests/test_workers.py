"""`gigdesk serve --workers N` as an operator runs it: a real supervisor process and its real
workers on one loopback port (bot.workers). Both workers answer; a worker killed with -9 is
started again while the other keeps answering; SIGTERM stops them all with status 0; a port
already taken, and workers that cannot start, stop it with a clear status instead of a loop.
What the workers share through the database is shown in test_crash.py (two processes, kill -9
of one) and test_console.py (live events across instances)."""
from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from bench.crash import ROOT, Server, signed_query
from tests.conftest import wechat_xml

pytestmark = pytest.mark.both_backends  # the workers' test; refusing to start needs no database


def workers_of(supervisor: subprocess.Popen) -> set[int]:
    children = Path(f"/proc/{supervisor.pid}/task/{supervisor.pid}/children").read_text().split()
    return {int(pid) for pid in children}


async def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not (result := predicate()):
        assert time.monotonic() < deadline, f"not within {timeout}s: {what}"
        await asyncio.sleep(0.2)
    return result


async def ask(session: aiohttp.ClientSession, server: Server, openid: str, text: str, msgid: int) -> str:
    """One WeChat message, on a new connection (the kernel picks a worker per connection); one
    retry, as WeChat would, when the connection dies with the worker it reached."""
    xml = wechat_xml("text", openid=openid, content=text, msgid=str(msgid)).encode()
    query = signed_query()
    for attempt in (1, 2):
        try:
            async with session.post(server.base + query, data=xml, headers={"Connection": "close"},
                                    timeout=aiohttp.ClientTimeout(total=20)) as resp:
                assert resp.status == 200
                return await resp.text()
        except aiohttp.ClientConnectionError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


async def workers_answering(session: aiohttp.ClientSession, server: Server, scrapes: int = 40) -> set[str]:
    """The workers seen answering /metrics (its gigdesk_worker gauge), each on a new connection."""
    seen = set()
    for _ in range(scrapes):
        async with session.get(server.base + "/metrics", headers={"Connection": "close"}) as resp:
            text = await resp.text()
        seen |= {line.split('"')[1] for line in text.splitlines() if line.startswith("gigdesk_worker{")}
    return seen


async def test_two_workers_answer_one_port_and_a_killed_worker_is_started_again(tmp_path, database_url):
    server = Server(tmp_path, "http://127.0.0.1:9", database_url, serve_args=("--workers", "2"))
    try:
        await server.start(timeout=120)
        first = await wait_for(lambda: len(workers_of(server.proc)) == 2 and workers_of(server.proc), 60,
                               "two workers")
        async with aiohttp.ClientSession() as session:
            assert await wait_for_async(lambda: workers_answering(session, server), {"0", "1"}, 60)
            replies = [await ask(session, server, f"o_workers_{i}", "押金不给退怎么办", 9_100 + i) for i in range(10)]
            assert all("<Content>" in r for r in replies)

            victim = min(first)
            os.kill(victim, signal.SIGKILL)
            # The other worker goes on answering while the supervisor starts a new one.
            assert "<Content>" in await ask(session, server, "o_workers_k", "工资被扣了找谁", 9_200)
            again = await wait_for(lambda: (len(workers_of(server.proc)) == 2 and victim not in workers_of(server.proc)
                                            and workers_of(server.proc)), 60, "a new worker in place of the killed one")
            assert first - {victim} <= again  # the other one was never restarted
            assert await wait_for_async(lambda: workers_answering(session, server), {"0", "1"}, 90)
        assert f"(pid {victim}) was killed by signal 9; starting it again" in server.log_tail(200)

        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(60) == 0
        assert not any(Path(f"/proc/{pid}").exists() for pid in again)
    finally:
        server.stop()


async def wait_for_async(make, want, timeout: float):
    deadline = time.monotonic() + timeout
    while True:
        got = await make()
        if got == want:
            return True
        assert time.monotonic() < deadline, f"not within {timeout}s: wanted {want}, saw {got}"
        await asyncio.sleep(0.5)


def run_serve(tmp_path: Path, *args: str, env: dict[str, str] | None = None,
              timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot.cli", "serve", "--demo", "--data-dir", str(tmp_path / "data"),
                           "--host", "127.0.0.1", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


def test_workers_refuse_a_port_another_program_holds(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        result = run_serve(tmp_path, "--workers", "2", "--port", str(taken.getsockname()[1]), timeout=60)
    assert result.returncode == 2
    assert "already in use" in result.stderr


def test_workers_that_cannot_start_stop_the_supervisor_instead_of_looping(tmp_path):
    """A broken FAQ folder: each worker exits as it starts; after three tries the supervisor
    stops with status 1 and says why."""
    empty = tmp_path / "no-faq"
    empty.mkdir()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = run_serve(tmp_path, "--workers", "2", "--port", str(port), "--knowledge-dir", str(empty))
    assert result.returncode == 1, result.stderr[-2000:]
    assert "3 times as it started; stopping all workers" in result.stderr
