"""The benchmark driver still runs end to end (bench/run.py --smoke: gigdesk and the bare
aiohttp server, one-second wrk runs, a tiny generated database; on PostgreSQL also the
PostgreSQL row, on the test's database). Asserts only that every figure is produced; the
figures themselves belong in the README, not in a test."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.both_backends,
              pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk (Debian package) is not installed")]


def test_smoke_run_prints_every_figure(tmp_path, database_url):
    out = tmp_path / "results.json"
    on_postgresql = ["--database-url", database_url] if database_url else []
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "run.py"), "--smoke", "--json", str(out), *on_postgresql],
                          capture_output=True, text=True, timeout=180, cwd=ROOT, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    for figure in ("1 webhook: gigdesk / bare aiohttp", "2 webhook: gigdesk / WeRoBot", "3 latency, 200 riders",
                   "4 growth: webhook 1M msgs / empty", "console GET /api/queue", "console GET /api/cases",
                   "server memory after load"):
        assert figure in done.stdout, figure
    results = json.loads(out.read_text())
    assert results["median"]["gigdesk"] > 0 and results["median"]["bare"] > 0 and results["median"]["growth"] > 0
    if database_url:
        assert "PostgreSQL, 1 worker / SQLite, 1 worker" in done.stdout
        assert results["median"]["pg"] > 0
    assert all(run["errors"] == 0 for runs in results["runs"].values() for run in runs)
    assert all(run["lost_riders"] == 0 for runs in results["latency"].values() for run in runs)  # every rider got a reply
    assert results["memory"]["VmRSS"] > 0
