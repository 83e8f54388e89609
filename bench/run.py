"""The webhook benchmarks of issue 6, in one run, printed as one table.

Every server is a real process on loopback, started and stopped here: gigdesk through its real
CLI (`gigdesk serve`, plaintext mode, a test token), a bare aiohttp handler returning a fixed
reply (bench/bare_server.py), and a WeRoBot robot under gunicorn as WeRoBot's docs deploy it
(bench/werobot_robot.py). The load is wrk (Debian's package) with bench/wechat.lua: signed
WeChat text messages with distinct MsgIds from many riders, texts from the held-out rider
questions. Throughput runs are interleaved (A/B/C, B/C/A, ...) and medians compared, because
the machine is shared and noisy: the ratios are the figures, not the raw rates.

    bash bench/run.sh            # quick: about 3 minutes
    bash bench/run.sh --full     # longer runs, more repeats
    python bench/run.py --smoke  # seconds: gigdesk and bare only, tiny data (tests/test_bench_smoke.py)
"""
from __future__ import annotations

import argparse
import hashlib
import http.cookiejar
import json
import os
import platform
import re
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
if str(BENCH) not in sys.path:  # imported as bench.run (by compare.py's neighbours, the tests)
    sys.path.insert(0, str(BENCH))
from pgcluster import Cluster  # noqa: E402
LUA = BENCH / "wechat.lua"
HELDOUT = ROOT / "tests" / "data" / "heldout.yaml"
TOKEN = "bench-token-5c1e"
TARGETS = {"bare": 0.5, "werobot": 1.0, "p99_ms": 100.0, "growth": 0.8, "console_ms": 50.0, "rss_mb": 200.0}
# seconds per wrk run, interleaved repeats, growth data size, console requests, and a rider's
# pause between reading an answer and writing again (milliseconds, on average)
MODES = {
    "smoke": {"seconds": 1, "repeats": 1, "riders": 300, "messages": 3000, "console": 20, "think_ms": 200},
    "quick": {"seconds": 5, "repeats": 3, "riders": 100_000, "messages": 1_000_000, "console": 200, "think_ms": 3000},
    "full": {"seconds": 10, "repeats": 5, "riders": 100_000, "messages": 1_000_000, "console": 500, "think_ms": 3000},
}


# --- servers ---------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    name: str
    argv: list[str]
    cwd: Path
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None
    database: object = None  # bench.pgcluster.Cluster the server keeps its data in, if any

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def launch(self) -> None:
        argv = [a.replace("{port}", str(self.port)) for a in self.argv]
        with open(self.cwd / f"{self.name}.log", "ab") as log:  # the server keeps its own copy
            self.proc = subprocess.Popen(argv, cwd=self.cwd, env={**os.environ, **self.env}, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start; see {self.cwd / (self.name + '.log')}")
            try:  # any HTTP answer will do: the app has loaded (gunicorn listens before it has)
                urllib.request.urlopen(f"{self.url}/wechat", timeout=5).close()
                return
            except urllib.error.HTTPError:
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not answer on {self.port} within {timeout:.0f} s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)  # its own session: gunicorn's worker goes too
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def pids(self) -> list[int]:
        """The server and its children (gunicorn's worker)."""
        found, todo = [], [self.proc.pid]
        while todo:
            pid = todo.pop()
            found.append(pid)
            for task in Path(f"/proc/{pid}/task").glob("*/children"):
                todo += [int(p) for p in task.read_text().split()]
        return found

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pids())

    def memory_mb(self) -> dict[str, float]:
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        return {key: int(re.search(rf"^{key}:\s+(\d+) kB", status, re.MULTILINE).group(1)) / 1024
                for key in ("VmRSS", "VmHWM")}


def cpu_seconds(pids: list[int]) -> float:
    """User + system time of these processes (those that ended meanwhile count as 0)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def gigdesk(name: str, data_dir: Path, workers: int = 1, database=None, database_url: str = "") -> Server:
    """`gigdesk serve` on data_dir's SQLite file, or on database_url in the cluster `database`."""
    dead_port = free_port()  # nothing listens there: the outbox must not reach any real WeChat
    data_dir.mkdir(exist_ok=True)
    return Server(name, [str(Path(sys.executable).parent / "gigdesk"), "serve", "--host", "127.0.0.1",
                         "--port", "{port}", "--data-dir", str(data_dir), "--workers", str(workers)], data_dir,
                  {"WECHAT_TOKEN": TOKEN, "WECHAT_APPID": "wxbench0000000000", "WECHAT_SECRET": "bench",
                   "WECHAT_API_BASE": f"http://127.0.0.1:{dead_port}", "GIGDESK_OFFICE_HOURS": "always",
                   "GIGDESK_DATABASE_URL": database_url}, database=database)


def bare(work: Path) -> Server:
    return Server("bare", [sys.executable, str(BENCH / "bare_server.py"), "--port", "{port}"], work)


def werobot(work: Path, session: bool) -> Server | None:
    gunicorn = Path(sys.executable).parent / "gunicorn"
    try:
        import werobot  # noqa: F401  (installed in bench/.venv only)
    except ImportError:
        return None
    if not gunicorn.exists():
        return None
    folder = work / ("werobot" if session else "werobot-nosession")
    folder.mkdir(exist_ok=True)  # its SQLite session file lands here
    return Server(folder.name, [str(gunicorn), "--bind", "127.0.0.1:{port}", "--pythonpath", str(BENCH),
                                "--no-control-socket", "werobot_robot:application"], folder,
                  {"BENCH_TOKEN": TOKEN, "BENCH_WEROBOT_SESSION": "1" if session else "0"})


# --- load --------------------------------------------------------------------------------------
def signed_url(server: Server) -> str:
    """Signature = sha1 of the sorted token, timestamp and nonce; the body is not signed, so one
    URL serves a whole run (well within gigdesk's 300 s timestamp tolerance)."""
    timestamp, nonce = str(int(time.time())), str(secrets.randbelow(10**9))
    signature = hashlib.sha1("".join(sorted([TOKEN, timestamp, nonce])).encode()).hexdigest()
    return f"{server.url}/wechat?" + urllib.parse.urlencode(
        {"signature": signature, "timestamp": timestamp, "nonce": nonce})


_runs = iter(range(1, 1000))
_stamp = int(time.time()) % 100_000


def wrk(server: Server, texts: Path, seconds: float, connections: int, threads: int, riders: int,
        mode: str, think_ms: int = 0) -> dict:
    """One wrk run; adds the messages per second and the CPU the client and the server used."""
    run_id = f"{_stamp:05d}{next(_runs):03d}"  # digits only: it starts every MsgId of this run
    before_client = resource.getrusage(resource.RUSAGE_CHILDREN)
    before_server = server.cpu_seconds()
    before_db = cpu_seconds(server.database.pids()) if server.database else 0.0
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s",
                          "-s", str(LUA), signed_url(server), "--", str(texts), run_id, str(riders), mode,
                          str(think_ms)],
                         capture_output=True, text=True, timeout=seconds + 60, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    line = next((x for x in out.stdout.splitlines() if x.startswith("BENCH ")), None)
    if line is None:
        raise RuntimeError(f"wrk gave no result for {server.name}: {out.stdout[-500:]} {out.stderr[-500:]}")
    result = json.loads(line[6:])
    wall = result["duration_us"] / 1e6
    errors = sum(result[k] for k in ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts"))
    result.update(rate=(result["requests"] - errors) / wall, errors=errors,
                  client_cpu=(after.ru_utime + after.ru_stime - before_client.ru_utime - before_client.ru_stime) / wall,
                  server_cpu=(server.cpu_seconds() - before_server) / wall,
                  db_cpu=(cpu_seconds(server.database.pids()) - before_db) / wall if server.database else 0.0)
    return result


def rider_texts(path: Path) -> int:
    """The held-out rider questions that the bot answers, one per line. Questions that call for
    a person (danger, 转人工, a help request) are left out: they would move the bench's riders
    into the caseworkers' queue, where the bot stays quiet, and the later messages would skip
    the matcher the benchmark is meant to exercise."""
    from bot.app import load_or_fail
    from bot.brain import build_brain
    from bot.settings import KNOWLEDGE_DIR
    from intents.normalise import clean
    from knowledge.evaluate import load_questions

    brain = build_brain(load_or_fail(KNOWLEDGE_DIR))
    routes = (brain.report, brain.case_status, brain.back_to_bot)

    def to_a_person(text: str) -> bool:  # as the engine routes it: danger and handoff by their rules
        reading = brain.read(text)
        return bool(brain.danger_in(reading) or brain.asks_for_a_person(reading))

    texts = [q.text for q in load_questions(HELDOUT)
             if not to_a_person(q.text) and not any(r.found_in(clean(q.text)) for r in routes) and "]]>" not in q.text]
    path.write_text("\n".join(t.replace("\n", " ") for t in texts) + "\n", encoding="utf-8")
    return len(texts)


# --- the console ---------------------------------------------------------------------------
def add_caseworker(server: Server, name: str, password: str) -> None:
    subprocess.run([str(Path(sys.executable).parent / "gigdesk"), "user", "add", name, "--role", "caseworker",
                    "--data-dir", str(server.cwd)], input=password + "\n", text=True, check=True,
                   capture_output=True, cwd=server.cwd)


def console_timings(server: Server, name: str, password: str, count: int) -> dict[str, dict[str, float]]:
    """Log in through the real form, then time GET /api/queue and GET /api/cases one after the
    other, as a caseworker's page does."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    form = opener.open(f"{server.url}/console/login", timeout=30).read().decode()
    csrf = re.search(r'name="csrf" value="([^"]+)"', form).group(1)
    body = urllib.parse.urlencode({"name": name, "password": password, "csrf": csrf, "next": "/console"})
    opener.open(f"{server.url}/console/login", data=body.encode(), timeout=30).read()
    if not any(c.name == "gigdesk_console" for c in jar):
        raise RuntimeError("console login failed")
    timings = {}
    for path in ("/api/queue", "/api/cases"):
        samples, size = [], 0
        for _ in range(count):
            started = time.perf_counter()
            size = len(opener.open(server.url + path, timeout=30).read())
            samples.append((time.perf_counter() - started) * 1000)
        timings[path] = {"p50": percentile(samples, 50), "p99": percentile(samples, 99), "bytes": size}
    return timings


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered), max(1, round(p / 100 * len(ordered)))) - 1]


# --- the run -------------------------------------------------------------------------------
def growth_data(riders: int, messages: int, cache: Path | None, work: Path) -> Path:
    """A folder with the generated database: cached in bench/.data between runs (it takes about
    a minute to write), fresh in the work folder for the smoke run."""
    folder = (cache / f"growth-{riders}-{messages}") if cache else (work / "growth")
    if not (folder / "gigdesk.db").exists():
        print(f"generating {riders:,} riders and {messages:,} messages in {folder} ...", flush=True)
        subprocess.run([sys.executable, str(BENCH / "make_data.py"), "--data-dir", str(folder), "--riders",
                        str(riders), "--messages", str(messages)], check=True)
    for stale in folder.glob("*.log"):
        stale.unlink()
    return folder


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    mode = "full" if args.full else "smoke" if args.smoke else "quick"
    cfg = {**MODES[mode], **{k: v for k, v in (("seconds", args.seconds), ("repeats", args.repeats)) if v}}
    cfg["seconds"] = max(1, int(cfg["seconds"]))  # wrk takes whole seconds
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install wrk, or run bash bench/run.sh)", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="gigdesk-bench-"))
    texts = work / "texts.txt"
    n_texts = rider_texts(texts)
    (work / "empty").mkdir()
    (work / "empty-unseen").mkdir()
    cache = None if mode == "smoke" else BENCH / ".data"
    # The load's texts repeat (a few hundred questions), so after the first round gigdesk
    # remembers their reading (reading_cache); the same server with it off reads every message
    # as new, the cost of a question it has never seen.
    unseen = gigdesk("gigdesk-unseen", work / "empty-unseen")
    unseen.env["GIGDESK_READING_CACHE"] = "0"
    servers = {"gigdesk": gigdesk("gigdesk", work / "empty"), "unseen": unseen, "bare": bare(work),
               "growth": gigdesk("gigdesk-1M", growth_data(cfg["riders"], cfg["messages"], cache, work))}
    if mode != "smoke" and not args.no_werobot:
        for key, session in (("werobot", True), ("werobot_nosession", False)):
            if (server := werobot(work, session)) is not None:
                servers[key] = server
    cluster = None
    if args.database_url:
        # PostgreSQL rows on a server someone else runs (the tests' throw-away cluster): one
        # worker, and no PostgreSQL CPU figure, since its processes are not ours to measure.
        servers["pg"] = gigdesk("gigdesk-pg-1w", work / "pg", 1, None, args.database_url)
    if mode != "smoke":
        # Several workers, and PostgreSQL (issue 14): each on an empty database of its own.
        servers["workers2"] = gigdesk("gigdesk-2-workers", work / "empty-2w", workers=2)
        cluster = Cluster()
        if args.no_postgresql or args.database_url or not cluster.available:
            print("PostgreSQL cluster rows left out" + ("" if args.no_postgresql or args.database_url else
                  ": no server binaries (apt-get install postgresql, or run bash bench/run.sh)"), file=sys.stderr)
            cluster = None
        else:
            cluster.start()
            for key, workers in (("pg", 1), ("pg_workers2", 2)):
                url = cluster.create_database(f"bench_{key}")
                servers[key] = gigdesk(f"gigdesk-pg-{workers}w", work / key, workers, cluster, url)
    # A new account each run: the growth database is kept between runs.
    caseworker = (f"bench-{secrets.token_hex(3)}", secrets.token_urlsafe(12))
    add_caseworker(servers["growth"], *caseworker)
    started = time.time()
    try:
        for server in servers.values():  # all at once: each takes a few seconds to import
            server.launch()
        for server in servers.values():
            server.wait_ready()
        results = measure(servers, texts, cfg, caseworker)
    finally:
        for server in servers.values():
            server.stop()
        if cluster is not None:
            cluster.stop()
    results.update(mode=mode, cfg=cfg, texts=n_texts, elapsed=time.time() - started, work=str(work),
                   command=" ".join(["bash bench/run.sh", *(argv if argv is not None else sys.argv[1:])]))
    print(report(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, ensure_ascii=False))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def measure(servers: dict[str, Server], texts: Path, cfg: dict, caseworker: tuple[str, str]) -> dict:
    seconds, repeats = cfg["seconds"], cfg["repeats"]
    runs: dict[str, list[dict]] = {key: [] for key in servers}
    latency: dict[str, list[dict]] = {"paced": [], "burst": []}
    order = list(servers)
    for repeat in range(repeats):
        for i in range(len(order)):  # rotated, so no server always runs first or after the same one
            key = order[(i + repeat) % len(order)]
            runs[key].append(wrk(servers[key], texts, seconds, connections=50, threads=1, riders=2000,
                                 mode="spread"))
            print(f"  {repeat + 1}/{repeats} {servers[key].name:<18} {runs[key][-1]['rate']:>9,.0f} msg/s",
                  flush=True)
        # 200 riders at once, one per connection, each waiting for its reply and then a while
        # (reading, typing: think_ms on average) before writing again. With no pause at all the
        # same 200 riders saturate the server, and latency is only 200 / throughput ("burst").
        for kind, think in (("paced", cfg["think_ms"]), ("burst", 0)):
            run = wrk(servers["gigdesk"], texts, max(seconds, 3 * think // 1000), connections=200, threads=2,
                      riders=100, mode="riders", think_ms=think)
            latency[kind].append(run)
            print(f"  {repeat + 1}/{repeats} latency, 200 riders {kind:<5} p50 {run['p50_us'] / 1000:.1f} ms, "
                  f"p99 {run['p99_us'] / 1000:.1f} ms ({run['rate']:,.0f} msg/s)", flush=True)
    console = console_timings(servers["growth"], *caseworker, count=cfg["console"])
    memory = servers["growth"].memory_mb()
    return {"runs": runs, "latency": latency, "console": console, "memory": memory,
            "median": {key: statistics.median(r["rate"] for r in rs) for key, rs in runs.items()},
            "names": {key: s.name for key, s in servers.items()}}


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False).stdout.split(" [")[0]
    return (f"{os.cpu_count()} cores {model}, {round(os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30)}"
            f" GiB, Linux {platform.release()}, Python {platform.python_version()}, {wrk_version}")


def report(r: dict) -> str:
    m, lat, con, mem = r["median"], r["latency"], r["console"], r["memory"]
    rows = []

    def row(figure: str, measured: str, target: str, met: bool | None) -> None:
        rows.append((figure, measured, target, "n/a" if met is None else "met" if met else "GAP"))

    def ratio(key: str, base: str, figure: str, target: float) -> None:
        if key in m and base in m:
            value = m[key] / m[base]
            row(figure, f"{value:.2f} ({m[key]:,.0f} / {m[base]:,.0f} msg/s)", f">= {target:g}", value >= target)
        else:
            row(figure, "not run", f">= {target:g}", None)

    ratio("gigdesk", "bare", "1 webhook: gigdesk / bare aiohttp", TARGETS["bare"])
    ratio("unseen", "bare", "  (gigdesk, every text new to it / bare)", TARGETS["bare"])
    ratio("gigdesk", "werobot", "2 webhook: gigdesk / WeRoBot (defaults)", TARGETS["werobot"])
    ratio("gigdesk", "werobot_nosession", "  (gigdesk / WeRoBot, session off)", TARGETS["werobot"])
    for kind, label in (("paced", f"3 latency, 200 riders pausing ~{r['cfg']['think_ms'] / 1000:g} s: p50 / p99"),
                        ("burst", "  (200 riders, no pause: saturated)")):
        p50 = statistics.median(x["p50_us"] for x in lat[kind]) / 1000
        p99 = statistics.median(x["p99_us"] for x in lat[kind]) / 1000
        rate = statistics.median(x["rate"] for x in lat[kind])
        row(label, f"{p50:.0f} / {p99:.0f} ms ({rate:,.0f} msg/s)", f"p99 < {TARGETS['p99_ms']:g} ms",
            p99 < TARGETS["p99_ms"])
    ratio("growth", "gigdesk", "4 growth: webhook 1M msgs / empty", TARGETS["growth"])
    for path, t in con.items():
        row(f"  console GET {path} p50 / p99", f"{t['p50']:.1f} / {t['p99']:.1f} ms ({t['bytes']:,} B)",
            f"< {TARGETS['console_ms']:g} ms", t["p99"] < TARGETS["console_ms"])
    row("  server memory after load: RSS / peak", f"{mem['VmRSS']:.0f} / {mem['VmHWM']:.0f} MB",
        f"< {TARGETS['rss_mb']:g} MB", mem["VmHWM"] < TARGETS["rss_mb"])
    for key, base, figure in (("workers2", "gigdesk", "5 SQLite: 2 workers / 1 worker"),
                              ("pg", "gigdesk", "  PostgreSQL, 1 worker / SQLite, 1 worker"),
                              ("pg_workers2", "pg", "  PostgreSQL: 2 workers / 1 worker")):
        if key in m and base in m:
            row(figure, f"{m[key] / m[base]:.2f} ({m[key]:,.0f} / {m[base]:,.0f} msg/s)", "", None)
    widths = [max(len(x[i]) for x in rows + [("figure", "measured", "target", "")]) for i in range(4)]

    def line(cells) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()

    cfg = r["cfg"]
    out = [(f"gigdesk webhook benchmark, {time.strftime('%Y-%m-%d %H:%M')}, {r['mode']} mode "
            f"({cfg['seconds']} s per run, {cfg['repeats']} interleaved repeats, {r['texts']} rider questions, "
            f"{r['elapsed']:.0f} s in all)"),
           f"machine: {machine()}", f"command: {r['command']}", "",
           line(("figure", "measured", "target", "")), line(["-" * w for w in widths])]
    out += [line(x) for x in rows]
    out += ["", "per server (median msg/s; each run; CPU used, in cores, by the server and by wrk; reply bytes):"]
    for key, runs in r["runs"].items():
        each = " ".join(f"{x['rate']:,.0f}" for x in runs)
        cpu = statistics.median(x["server_cpu"] for x in runs)
        client = statistics.median(x["client_cpu"] for x in runs)
        errors = sum(x["errors"] for x in runs)
        reply = statistics.median(x["bytes"] / max(x["requests"], 1) for x in runs)
        per_message = statistics.median(1000 * x["server_cpu"] / max(x["rate"], 1) for x in runs)
        db = statistics.median(x.get("db_cpu", 0.0) for x in runs)
        db_per_message = statistics.median(1000 * x.get("db_cpu", 0.0) / max(x["rate"], 1) for x in runs)
        out.append(f"  {r['names'][key]:<18} {r['median'][key]:>8,.0f}  [{each}]  server {cpu:.2f} ({per_message:.3f} ms"
                   f"/msg){f', PostgreSQL {db:.2f} ({db_per_message:.3f} ms/msg)' if db else ''}, wrk {client:.2f}, "
                   f"{reply:,.0f} B/reply{f', {errors} errors' if errors else ''}")
    for kind, runs in lat.items():
        p99s = " ".join(f"{x['p99_us'] / 1000:.0f}" for x in runs)
        out.append(f"  latency {kind:<10} p99 [{p99s}] ms, "
                   f"riders that lost their reply: {sum(x['lost_riders'] for x in runs)}")
    if "pg" in r["runs"] and all(x.get("db_cpu") for x in r["runs"]["pg"]):
        out += ["", *capacity_estimate(r["runs"]["pg"])]
    return "\n".join(out)


def capacity_estimate(runs: list[dict], headroom: float = 0.7) -> list[str]:
    """Messages per second per added host, from the CPU one message costs: gigdesk's processes
    on the app hosts, PostgreSQL's on the database host (measured on this machine's cores, with
    both on it). `headroom`: the share of a core planned for, leaving room for bursts."""
    app_ms = statistics.median(1000 * x["server_cpu"] / max(x["rate"], 1) for x in runs)
    db_ms = statistics.median(1000 * x["db_cpu"] / max(x["rate"], 1) for x in runs)
    per_core = headroom * 1000 / app_ms
    return [f"capacity estimate from the PostgreSQL runs' CPU per message ({app_ms:.2f} ms in gigdesk, "
            f"{db_ms:.2f} ms in PostgreSQL), planning {headroom:.0%} of each core:",
            f"  each added app host: about {per_core:,.0f} msg/s per core ({2 * per_core:,.0f} on 2 cores, "
            f"{4 * per_core:,.0f} on 4), with `--workers` = its cores",
            f"  the database host: about {headroom * 1000 / db_ms:,.0f} msg/s per core of PostgreSQL, the "
            f"ceiling the app hosts share (one 4-core database: {4 * headroom * 1000 / db_ms:,.0f} msg/s)"]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    size = p.add_mutually_exclusive_group()
    size.add_argument("--full", action="store_true", help="10 s runs, 5 repeats")
    size.add_argument("--smoke", action="store_true", help="1 s runs, gigdesk and bare only, tiny data")
    p.add_argument("--seconds", type=int, help="seconds per wrk run (overrides the mode)")
    p.add_argument("--repeats", type=int, help="interleaved repeats (overrides the mode)")
    p.add_argument("--no-werobot", action="store_true", help="leave out the WeRoBot rows")
    p.add_argument("--no-postgresql", action="store_true", help="leave out the PostgreSQL rows")
    p.add_argument("--database-url", default="",
                   help="a PostgreSQL database to run the 1-worker PostgreSQL row on, instead of a cluster of the"
                        " benchmark's own (added to --smoke runs too)")
    p.add_argument("--json", help="also write the results to this file")
    p.add_argument("--keep", action="store_true", help="keep the work folder (server logs)")
    return p


if __name__ == "__main__":
    sys.exit(main())
