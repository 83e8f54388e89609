"""bench/stations_bench.py still runs end to end on a small directory. Asserts only that every
figure is produced; the figures themselves belong in the README, not in a test."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_station_bench_runs_and_reports_every_figure(tmp_path):
    out = tmp_path / "figures.json"
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "stations_bench.py"), "--stations", "3000",
                           "--queries", "300", "--json", str(out)],
                          capture_output=True, text=True, timeout=300, cwd=ROOT, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "p99" in done.stdout and "3,000 stations imported" in done.stdout
    figures = json.loads(out.read_text())
    assert figures["stations"] == 3000 and figures["queries"] == 300
    assert figures["p50_ms"] > 0 and figures["p99_ms"] >= figures["p50_ms"]
    assert figures["no_station_within_5km"] < 300  # the queries found stations, not nothing
