"""gigdesk against gigdesk: two (or more) checkouts served side by side on the same machine, the
same load, runs interleaved, so a change is measured as a ratio while the machine is noisy.

    python bench/compare.py /path/to/base /path/to/new       # each a checkout with its .venv
    python bench/compare.py BASE NEW --seconds 5 --repeats 5 --profile NEW
    python bench/compare.py BASE NEW NEW:GIGDESK_READING_CACHE=0   # a checkout with settings

Each checkout is served by its own venv's `gigdesk serve` (as bench/run.py serves it) on an
empty database. Per repeat: a throughput run of bench/run.py's kind (50 connections, 2,000
riders, each message with its own MsgId), and a latency run of 200 riders pausing between
messages. Figures: median msg/s, the server's CPU per message (its utime + stime over the
messages it answered), p99, and each checkout's ratio to the first. --profile wraps that
checkout's server in pyinstrument; the report lands in its work folder."""
from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench  # noqa: E402


def server(name: str, checkout: Path, data_dir: Path, profile: Path | None) -> bench.Server:
    """The checkout's own venv if it has one; else this Python with the checkout first on
    PYTHONPATH (a plain `git worktree add` of an older commit, no install needed)."""
    s = bench.gigdesk(name, data_dir)
    venv = checkout / ".venv" / "bin"
    python = venv / "python" if venv.exists() else Path(sys.executable)
    if not venv.exists():
        s.env["PYTHONPATH"] = str(checkout)
    s.argv[:1] = [str(python), "-m", "bot.cli"] if profile is None else \
        [str(python), "-m", "pyinstrument", "--interval", "0.0005", "-r", "html", "-o", str(profile), "-m", "bot.cli"]
    return s


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("checkouts", nargs="+", help="a checkout's folder, optionally :NAME=VALUE,... for its environment")
    p.add_argument("--seconds", type=int, default=5)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--connections", type=int, default=50)
    p.add_argument("--think-ms", type=int, default=3000)
    p.add_argument("--no-latency", action="store_true", help="throughput runs only")
    p.add_argument("--data", type=Path, help="a data folder (e.g. bench/.data/growth-...) copied for each server")
    p.add_argument("--profile", type=Path, action="append", default=[], help="a checkout to profile")
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="gigdesk-compare-"))
    texts = work / "texts.txt"
    bench.rider_texts(texts)
    servers = {}
    for i, spec in enumerate(args.checkouts):
        folder, _, env = spec.partition(":")
        checkout = Path(folder).resolve()
        data = work / f"data{i}"
        if args.data:
            shutil.copytree(args.data, data)
        else:
            data.mkdir()
        profiled = work / f"profile{i}.html" if any(c.resolve() == checkout for c in args.profile) else None
        servers[f"{i}:{checkout.name}{':' + env if env else ''}"] = s = server(f"gigdesk{i}", checkout, data, profiled)
        s.env.update(dict(pair.split("=", 1) for pair in env.split(",") if pair))
    for s in servers.values():
        s.launch()
    try:
        for s in servers.values():
            s.wait_ready()
        runs = {key: [] for key in servers}
        paced = {key: [] for key in servers}
        order = list(servers)
        for repeat in range(args.repeats):
            for i in range(len(order)):
                key = order[(i + repeat) % len(order)]
                r = bench.wrk(servers[key], texts, args.seconds, connections=args.connections, threads=1,
                              riders=2000, mode="spread")
                runs[key].append(r)
                print(f"  {repeat + 1}/{args.repeats} {key:<36} {r['rate']:>7,.0f} msg/s  "
                      f"cpu {1000 * r['server_cpu'] / max(r['rate'], 1):.3f} ms/msg  p99 {r['p99_us'] / 1000:.1f} ms"
                      f"{'  errors %d' % r['errors'] if r['errors'] else ''}", flush=True)
                if not args.no_latency:
                    t = bench.wrk(servers[key], texts, max(args.seconds, 3 * args.think_ms // 1000), connections=200,
                                  threads=2, riders=100, mode="riders", think_ms=args.think_ms)
                    paced[key].append(t)
                    print(f"  {repeat + 1}/{args.repeats} {key:<36} paced p50 {t['p50_us'] / 1000:.1f} ms "
                          f"p99 {t['p99_us'] / 1000:.1f} ms, lost {t['lost_riders']}", flush=True)
    finally:
        for s in servers.values():
            s.stop()
    base = None
    print(f"\n{'checkout':<36} {'msg/s':>8} {'ratio':>6} {'CPU ms/msg':>10} {'p99 (50 conn)':>14} "
          f"{'paced p99':>10}  errors/lost")
    for key in servers:
        rate = statistics.median(r["rate"] for r in runs[key])
        cpu = statistics.median(1000 * r["server_cpu"] / max(r["rate"], 1) for r in runs[key])
        p99 = statistics.median(r["p99_us"] for r in runs[key]) / 1000
        lat = f"{statistics.median(t['p99_us'] for t in paced[key]) / 1000:.1f} ms" if paced[key] else "-"
        bad = sum(r["errors"] for r in runs[key]) + sum(t["errors"] + t["lost_riders"] for t in paced[key])
        base = base or rate
        print(f"{key:<36} {rate:>8,.0f} {rate / base:>6.2f} {cpu:>10.3f} {p99:>11.1f} ms {lat:>10}  {bad}")
    print(f"(work folder: {work})")
    if args.data:
        shutil.rmtree(work, ignore_errors=True)  # copies of a large database
    return 0


if __name__ == "__main__":
    sys.exit(main())
