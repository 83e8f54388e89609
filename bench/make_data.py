"""A year of a busy union account, for the growth benchmark: 100,000 riders and 1,000,000
stored messages by default, with conversations (a few hundred waiting for or held by a
caseworker), unanswered questions, WeChat deliveries, outbox rows, a few thousand cases with
their history, and the caseworkers' accounts.

The database is created by the real Store, so its schema and migrations are the ones the
server runs; the rows are then written with executemany in one transaction (seconds, not the
hours the engine would need). Texts are the held-out rider questions and the FAQ's real
answers, so rows have realistic sizes.

    python bench/make_data.py --data-dir /tmp/growth [--riders 100000] [--messages 1000000]
"""
from __future__ import annotations

import argparse
import json
import random
import sqlite3
import string
import sys
import time
from pathlib import Path

from bot.app import load_or_fail, template_context
from bot.settings import KNOWLEDGE_DIR, load_settings
from knowledge.evaluate import load_questions
from storage import Store
from storage.cases import STATUSES

HELDOUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "heldout.yaml"
YEAR = 365 * 86400
CASEWORKERS = [f"社工{n:02d}" for n in range(1, 9)]
PLATFORMS = ["美团", "饿了么", "顺丰同城", "达达", "滴滴", "货拉拉", "闪送"]
CITIES = ["北京", "上海", "广州", "深圳", "杭州", "成都", "武汉", "西安", "南京", "重庆"]
WAITING, ASSIGNED = 300, 60  # the queue a caseworker opens: after an outage, not a quiet day
UNANSWERED_SHARE = 0.05  # of rider messages, left for the FAQ editors


def openid(rng: random.Random) -> str:
    """Shaped like WeChat's: 28 characters starting with "o"."""
    return "o" + "".join(rng.choices(string.ascii_letters + string.digits + "-_", k=27))


def make(data_dir: Path, riders: int, messages: int, seed: int = 7) -> dict[str, int]:
    rng = random.Random(seed)
    Store(data_dir / "gigdesk.db").close()  # the real schema, through the real migrations
    db = sqlite3.connect(str(data_dir / "gigdesk.db"), isolation_level=None)
    # No journal while loading (a crash only means running this again); WAL again at the end,
    # as the server runs it.
    db.execute("PRAGMA journal_mode = OFF")
    db.execute("PRAGMA synchronous = OFF")
    db.execute("PRAGMA cache_size = -200000")
    kb = load_or_fail(KNOWLEDGE_DIR)
    context = template_context(load_settings(environ={}))
    answers = [(e.id, kb.render_answer(e, context)) for e in kb.entries]
    questions = [q.text for q in load_questions(HELDOUT)]
    now = time.time()
    counts: dict[str, int] = {}
    db.execute("BEGIN")
    rider_ids = _riders(db, rng, riders, now, counts)
    conversations = _conversations(db, rng, rider_ids, messages, now, counts)
    _messages(db, rng, conversations, messages, questions, answers, counts)
    _cases(db, rng, conversations, now, counts)
    _outbox(db, rng, conversations, answers, now, counts)
    db.executemany("INSERT INTO users (name, role, password_hash, active, created_at) VALUES (?, 'caseworker',"
                   " '!not-a-hash', 1, ?)", [(name, now - YEAR) for name in CASEWORKERS])
    db.execute("COMMIT")
    db.execute("ANALYZE")  # as a long-running database would have statistics
    db.execute("PRAGMA journal_mode = WAL")
    db.close()
    return counts


def _riders(db: sqlite3.Connection, rng: random.Random, n: int, now: float, counts: dict) -> list[tuple]:
    rows = []
    for _ in range(n):
        channel = "wechat" if rng.random() < 0.9 else "web"
        oid = openid(rng) if channel == "wechat" else "".join(rng.choices("0123456789abcdef", k=32))
        first = now - rng.uniform(0, YEAR)
        rows.append((f"{channel}:{oid}", channel, oid, first, rng.uniform(first, now), 1))
    db.executemany("INSERT INTO riders (id, channel, openid, first_seen_at, last_message_at, subscribed)"
                   " VALUES (?, ?, ?, ?, ?, ?)", rows)
    counts["riders"] = n
    return rows


def _conversations(db, rng, riders: list[tuple], messages: int, now: float, counts: dict) -> list[tuple]:
    """(id, rider_id, openid, channel, start, size) for each conversation; about 2 per rider, the
    last one open with the bot unless it is in the queue."""
    rows, plan = [], []
    pairs, slots = messages // 2, 2 * len(riders)  # a question and its answer, spread evenly
    queue = set(rng.sample(range(len(riders)), min(len(riders), WAITING + ASSIGNED)))
    assigned = set(list(queue)[:ASSIGNED])
    for index, (rider_id, channel, oid, first, last, _) in enumerate(riders):
        for number in range(2):
            slot = index * 2 + number
            size = 2 * (pairs // slots + (slot < pairs % slots))
            start = first + (last - first) * number / 2
            state, reason, urgent, holder, waiting = "closed", None, 0, None, None
            if number == 1:
                state = "bot"
                if index in queue:
                    state = "assigned" if index in assigned else "waiting"
                    reason = rng.choice(["asked", "asked", "misses", "urgent"])
                    urgent = int(reason == "urgent")
                    holder = rng.choice(CASEWORKERS) if state == "assigned" else None
                    waiting = now - rng.uniform(60, 4 * 3600)
            conversation_id = len(rows) + 1
            rows.append((conversation_id, rider_id, state, reason, urgent, 0, 1, holder, start, start + 600,
                         start + 600 if state == "closed" else None, waiting))
            plan.append((conversation_id, rider_id, oid, channel, start, size))
    db.executemany("INSERT INTO conversations (id, rider_id, state, reason, urgent, misses, disclaimer_shown,"
                   " assigned_to, created_at, updated_at, closed_at, waiting_since) VALUES"
                   " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    counts["conversations"] = len(rows)
    counts["queue"] = WAITING + ASSIGNED
    return plan


def _messages(db, rng, plan: list[tuple], total: int, questions: list[str], answers: list[tuple],
              counts: dict) -> None:
    """A question and the bot's answer, in turn; deliveries for WeChat questions, unanswered
    rows for some. Written in chunks so memory stays flat."""
    message_id, chunk, deliveries, unanswered = 0, [], [], []
    written = {"messages": 0, "deliveries": 0, "unanswered": 0}

    def flush() -> None:
        db.executemany("INSERT INTO messages (id, conversation_id, rider_id, direction, sender, kind, text,"
                       " intent, score, outcome, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", chunk)
        db.executemany("INSERT INTO deliveries (key, rider_id, received_at, replies, late) VALUES (?, ?, ?, ?, 0)",
                       deliveries)
        db.executemany("INSERT INTO unanswered (message_id, rider_id, text, normalised, outcome, top_entry,"
                       " top_score, created_at, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", unanswered)
        written["messages"] += len(chunk)
        written["deliveries"] += len(deliveries)
        written["unanswered"] += len(unanswered)
        chunk.clear(), deliveries.clear(), unanswered.clear()

    for conversation_id, rider_id, oid, channel, start, size in plan:
        at = start
        for _ in range(size // 2):
            question = rng.choice(questions)
            entry, answer = rng.choice(answers)
            message_id += 1
            chunk.append((message_id, conversation_id, rider_id, "in", "rider", "text", question, None, None,
                          None, at))
            if channel == "wechat":
                deliveries.append((f"{oid}:{rng.getrandbits(62)}", rider_id, at, json.dumps([answer[:60]])))
            if rng.random() < UNANSWERED_SHARE:
                unanswered.append((message_id, rider_id, question, question, "fallback", entry, 0.4, at,
                                   rng.choice(["open", "open", "dismissed", "added"])))
            message_id += 1
            chunk.append((message_id, conversation_id, rider_id, "out", "bot", "text", answer, entry,
                          round(rng.uniform(0.6, 1.0), 3), "answer", at + 1))
            at += rng.uniform(5, 120)
        if len(chunk) >= 20000:
            flush()
    flush()
    counts.update(written)


def _cases(db, rng, plan: list[tuple], now: float, counts: dict, n: int = 3000) -> None:
    cases, events, per_month = [], [], {}
    kinds = ["injury", "wages-month", "threat", "wages", "fine", "account", "insurance", "deposit", "other"]
    for number, (conversation_id, rider_id, _, _, start, _) in enumerate(rng.sample(plan, min(n, len(plan))), 1):
        status = rng.choice(STATUSES)
        kind = rng.choice(kinds)
        created = start + 60
        month = time.strftime("%y%m", time.localtime(created))
        per_month[month] = per_month.get(month, 0) + 1  # numbered per month, as Store.create_case does
        cases.append((number, f"GH-{month}-{per_month[month]:04d}", rider_id, conversation_id, kind, rng.choice(PLATFORMS),
                      rng.choice(CITIES), "上个月", "平台扣了我三天的工资，说我超时，但那天系统出了故障。",
                      "1380013" + f"{number:04d}", status, "仲裁" if status == "referred" else None,
                      int(kind in ("injury", "wages-month", "threat")),
                      None if status == "new" else rng.choice(CASEWORKERS), created, created + 86400,
                      created + 86400 * 7 if status in ("resolved", "closed") else None))
        events.append((number, created, "rider", "created", None, "new", None))
        if status != "new":
            events.append((number, created + 86400, rng.choice(CASEWORKERS), "status", "new", status, "已联系骑手"))
    db.executemany("INSERT INTO cases (id, number, rider_id, conversation_id, kind, platform, city, happened, story,"
                   " phone, status, referred_to, urgent, assigned_to, created_at, updated_at, closed_at) VALUES"
                   " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", cases)
    db.executemany("INSERT INTO case_events (case_id, at, actor, action, from_status, to_status, note) VALUES"
                   " (?, ?, ?, ?, ?, ?, ?)", events)
    counts["cases"] = len(cases)
    counts["case_events"] = len(events)


def _outbox(db, rng, plan: list[tuple], answers: list[tuple], now: float, counts: dict, n: int = 20000) -> None:
    """Caseworker replies sent through the customer-service API: nearly all sent, some failed or
    held. None queued: the server would start sending them to WeChat."""
    rows = []
    for conversation_id, rider_id, oid, channel, start, _ in rng.sample(plan, min(n, len(plan))):
        if channel != "wechat":
            continue
        state = rng.choices(["sent", "failed", "held"], weights=[95, 3, 2])[0]
        rows.append((rider_id, oid, rng.choice(answers)[1][:200], state, 1, start + 300, start + 300,
                     start + 301 if state == "sent" else None, "45015 回复时间超过限制" if state == "failed" else None))
    db.executemany("INSERT INTO outbox (rider_id, openid, text, state, attempts, next_attempt_at, created_at,"
                   " sent_at, last_error, kind) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'text')", rows)
    counts["outbox"] = len(rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", required=True, help="folder for gigdesk.db (must not hold one yet)")
    p.add_argument("--riders", type=int, default=100_000)
    p.add_argument("--messages", type=int, default=1_000_000)
    p.add_argument("--seed", type=int, default=7)
    args = p.parse_args(argv)
    data_dir = Path(args.data_dir)
    if (data_dir / "gigdesk.db").exists():
        print(f"{data_dir / 'gigdesk.db'} exists already; choose an empty folder", file=sys.stderr)
        return 2
    data_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    counts = make(data_dir, args.riders, args.messages, args.seed)
    size = (data_dir / "gigdesk.db").stat().st_size / 2**20
    print(f"wrote {', '.join(f'{v:,} {k}' for k, v in counts.items())} in {time.perf_counter() - started:.0f} s"
          f" ({size:,.0f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
