"""What both storage backends must share beyond the methods the other tests use: the same
schema from the one description, migrations recorded once, placeholders translated for
psycopg, a read-only dashboard reader, and the guarantees several processes sharing one
database rely on (a delivery claimed once, an outbox item taken by one sender), each shown
with two real connections."""
from __future__ import annotations

import threading
import time

import pytest

from storage.pg_schema import postgres_migrations
from storage.schema import migrations
from storage.sql import to_psycopg

pytestmark = pytest.mark.both_backends

TABLES = ("riders", "conversations", "messages", "deliveries", "unanswered", "outbox", "users", "sessions",
          "audit", "notes", "cases", "case_events", "case_evidence", "faq_changes", "claims", "stations",
          "station_changes", "station_boxes")


def test_placeholders_become_psycopgs_outside_quotes():
    assert to_psycopg("SELECT * FROM t WHERE a = ? AND b LIKE '%x?' AND c = :rider AND d::int = 1") == (
        "SELECT * FROM t WHERE a = %s AND b LIKE '%%x?' AND c = %(rider)s AND d::int = 1")
    assert to_psycopg("SELECT 'it''s ?', \"odd?name\", 5 % 2") == "SELECT 'it''s ?', \"odd?name\", 5 %% 2"


def test_every_sqlite_migration_has_its_postgresql_counterpart():
    assert [name for name, _ in postgres_migrations()] == [m.name for m in migrations._migrations]


def test_both_backends_have_the_same_tables_and_columns_in_the_same_order(make_store, tmp_path):
    from storage import Store
    sqlite = Store(tmp_path / "reference.db")
    store = make_store()
    try:
        for table in TABLES:
            assert store.db.columns(table) == sqlite.db.columns(table), table
    finally:
        sqlite.close()


def test_migrations_are_applied_once_and_a_reopened_store_applies_none(make_store):
    store = make_store()
    store.add_user("li", "admin", "hash", 1.0)
    again = store.reopen()
    assert again.user_by_name("li")["role"] == "admin"  # nothing recreated
    if store.db.dialect == "postgresql":
        names = [r["name"] for r in store.db.query("SELECT name FROM gigdesk_migrations ORDER BY name")]
    else:
        names = [r["name"] for r in store.db.query("SELECT name FROM _sqlite_migrations ORDER BY name")]
    assert names == sorted(m.name for m in migrations._migrations)
    again.close()


def test_the_dashboard_reader_cannot_write(make_store):
    store = make_store()
    reader = store.stats_reader()
    try:
        with pytest.raises(Exception) as raised:
            reader.db.execute("INSERT INTO audit (at, actor, action, target) VALUES (0, 'x', 'y', 'z')")
        assert "read" in str(raised.value).lower()  # "read-only transaction" / "attempt to write a readonly database"
        assert store.audit_log() == []
    finally:
        reader.close()


def test_an_identity_survives_a_row_and_ids_grow(make_store):
    store = make_store()
    first = store.add_user("a", "caseworker", "h", 1.0)
    second = store.add_user("b", "caseworker", "h", 1.0)
    assert second > first
    assert store.db["users"].count == 2


def test_a_transaction_that_fails_leaves_nothing_and_nests(make_store):
    store = make_store()
    with pytest.raises(RuntimeError):
        with store.transaction():
            store.add_user("a", "caseworker", "h", 1.0)
            raise RuntimeError("rolled back")
    assert store.user_by_name("a") is None
    with store.transaction():
        store.add_user("b", "caseworker", "h", 1.0)
        with pytest.raises(RuntimeError):
            with store.transaction():  # a savepoint: only its own writes go
                store.add_user("c", "caseworker", "h", 1.0)
                raise RuntimeError("inner")
    assert [u["name"] for u in store.users()] == ["b"]


def test_a_delivery_retried_through_another_connection_waits_for_the_first_and_gets_its_reply(make_store):
    """WeChat's retry reaching another instance while the first is still in its transaction:
    the retry's claim waits for the first's commit, loses, and reads the first's reply."""
    first, second = make_store(), make_store()
    first.touch_rider("wechat", "o_r", 1.0)
    claimed, results = threading.Event(), {}

    def retry() -> None:
        claimed.wait(10)
        results["claimed"] = second.claim_delivery("m:o_r:1", "wechat:o_r", 2.0, ["second's reply"])
        results["row"] = second.delivery("m:o_r:1")

    thread = threading.Thread(target=retry)
    thread.start()
    with first.transaction():
        assert first.claim_delivery("m:o_r:1", "wechat:o_r", 1.0, ["first's reply"])
        claimed.set()
        time.sleep(0.3)  # the retry is blocked on the key meanwhile
        assert "claimed" not in results
    thread.join(10)
    assert results["claimed"] is False
    assert results["row"]["replies"] == '["first\'s reply"]'


def test_an_outbox_item_is_taken_by_one_sender_and_due_again_after_its_lease(make_store):
    first, second = make_store(), make_store()
    first.touch_rider("wechat", "o_q", 1.0)
    a = first.enqueue_outbox("wechat:o_q", "o_q", "one", None, 10.0)
    b = first.enqueue_outbox("wechat:o_q", "o_q", "two", None, 10.0)
    taken = first.claim_due_outbox(20.0, lease_seconds=60)
    assert taken["id"] == a and taken["next_attempt_at"] == 10.0  # as it was before the lease
    assert second.claim_due_outbox(20.0)["id"] == b  # the other sender gets the next one
    assert second.claim_due_outbox(20.0) is None
    assert second.claim_due_outbox(81.0)["id"] == a  # the first sender died: due after its lease



def test_a_transaction_that_reads_then_writes_is_not_failed_by_another_connections_commit(make_store):
    """Two workers on one database: one reads in its transaction (as an outbox claim or a
    delivery's re-check does), the other commits a write meanwhile, then the first writes.
    On SQLite a deferred transaction would fail there ("database is locked", with no wait);
    the first must finish, and the other's write must be kept too."""
    first, second = make_store(), make_store()
    first.touch_rider("wechat", "o_t", 1.0)
    read, results = threading.Event(), {}

    def other_worker() -> None:
        read.wait(10)
        try:
            results["id"] = second.enqueue_outbox("wechat:o_t", "o_t", "from the other worker", None, 5.0)
        except Exception as exc:  # noqa: BLE001 - the test reports it
            results["error"] = exc

    thread = threading.Thread(target=other_worker)
    thread.start()
    with first.transaction():
        assert first.next_outbox_time() is None
        read.set()
        time.sleep(0.3)  # the other worker's write is made (or waits) meanwhile
        mine = first.enqueue_outbox("wechat:o_t", "o_t", "mine", None, 10.0)
    thread.join(10)
    assert "error" not in results, results
    assert {first.outbox_item(mine)["text"], first.outbox_item(results["id"])["text"]} == \
        {"mine", "from the other worker"}

def test_a_riders_photo_is_fetched_by_one_worker_and_due_again_after_its_lease(make_store):
    first, second = make_store(), make_store()
    first.touch_rider("wechat", "o_p", 1.0)
    conversation = first.new_conversation("wechat:o_p", 1.0)
    message = first.add_message(conversation, "in", 1.0, kind="image", text="[图片]")
    case = first.create_case("wechat:o_p", conversation["id"], {"kind": "fine"}, False, 1.0)
    photo = first.add_evidence(case["id"], message, "image", "MEDIA_1", 1.0)
    assert [e["id"] for e in first.claim_pending_evidence(10.0, lease_seconds=300)] == [photo]
    assert second.claim_pending_evidence(20.0) == []  # the other worker leaves it alone
    assert [e["id"] for e in second.claim_pending_evidence(311.0)] == [photo]  # the first one died
    second.update_evidence(photo, state="saved", file="1/1.jpg")
    assert first.claim_pending_evidence(1000.0) == []


def test_an_overdue_conversation_is_marked_escalated_by_one_of_two_instances(make_store):
    """Both escalators read the same overdue conversation; whichever marks second waits for
    the other's commit and then finds it marked, so the WeCom group hears of it once."""
    first, second = make_store(), make_store()
    first.touch_rider("wechat", "o_e", 1.0)
    conversation = first.new_conversation("wechat:o_e", 1.0)
    first.update_conversation(conversation["id"], 1.0, state="waiting", waiting_since=1.0)
    seen, results = threading.Event(), {}

    def other_escalator() -> None:
        seen.wait(10)
        with second.transaction():
            overdue = second.overdue_waiting(1000.0, 60.0, 60.0)
            results["marked"] = [c["id"] for c in overdue if second.mark_escalated(c["id"], 1000.0)]

    thread = threading.Thread(target=other_escalator)
    thread.start()
    with first.transaction():
        overdue = first.overdue_waiting(1000.0, 60.0, 60.0)
        seen.set()
        time.sleep(0.3)  # the other reads the same row meanwhile (PostgreSQL) or waits (SQLite)
        mine = [c["id"] for c in overdue if first.mark_escalated(c["id"], 1000.0)]
    thread.join(10)
    assert sorted(mine + results["marked"]) == [conversation["id"]]  # one of them, once


@pytest.mark.postgresql_only
def test_concurrent_senders_skip_a_row_another_holds(make_store):
    """PostgreSQL's SKIP LOCKED: a sender inside its claim does not block the other. (SQLite
    has one writer at a time, so there the second waits instead; the test above holds there.)"""
    first, second = make_store(), make_store()
    first.touch_rider("wechat", "o_s", 1.0)
    a = first.enqueue_outbox("wechat:o_s", "o_s", "one", None, 10.0)
    b = first.enqueue_outbox("wechat:o_s", "o_s", "two", None, 10.0)
    with first.transaction():
        first.db.execute("SELECT id FROM outbox WHERE id = ? FOR UPDATE", [a])  # as mid-claim
        started = time.monotonic()
        assert second.claim_due_outbox(20.0)["id"] == b
        assert time.monotonic() - started < 2


@pytest.mark.postgresql_only
def test_a_store_whose_connection_was_cut_fails_once_then_reconnects(make_store, postgres_admin):
    """A server restart or a dropped link: the call that meets it fails (a rider's message gets
    no answer and WeChat retries), the next one works on a new connection."""
    import psycopg
    store = make_store()
    store.add_user("a", "caseworker", "h", 1.0)
    pid = store.db.conn.info.backend_pid
    postgres_admin.execute("SELECT pg_terminate_backend(%s)", [pid])
    with pytest.raises(psycopg.OperationalError):
        store.user_by_name("a")
    assert store.user_by_name("a")["name"] == "a"
    assert store.db.conn.info.backend_pid != pid
    with store.transaction():  # and transactions work on the new connection
        store.add_user("b", "caseworker", "h", 1.0)
    assert [u["name"] for u in store.users()] == ["a", "b"]


@pytest.mark.postgresql_only
def test_migrate_db_copies_an_sqlite_deployment_and_its_ids_keep_growing(make_store, database_url, tmp_path, capsys):
    from bot.cli import main
    from storage import Store
    from storage.pg_schema import _shape
    from tests.test_retention import add_rider

    data = tmp_path / "data"
    sqlite = Store(data / "gigdesk.db")
    add_rider(sqlite, "oAAAAAAAAAAAAAAAAAAAAAAAAAAA", "GH-2611-0001", ["case-1/a.jpg", None])
    add_rider(sqlite, "oBBBBBBBBBBBBBBBBBBBBBBBBBBB", "GH-2611-0002", ["case-2/b.jpg"], channel="web")
    sqlite.add_user("li", "admin", "hash", 1.0)
    sqlite.save_station({"name": "站", "address": "路1号", "lat": 31.2, "lng": 121.4, "hours": "24小时",
                         "services": "饮水", "phone": "", "city": "上海", "district": "黄浦区", "updated": "2026-11-01",
                         "open_to_all": 1, "enabled": 1}, "li", 2.0)
    tables = [t for t in _shape(sqlite.db.conn)[0] if t != "station_boxes"]
    before = {t: list(sqlite.db[t].rows_where(order_by=sqlite.db[t].pk)) for t in tables}
    sqlite.close()

    assert main(["migrate-db", "--data-dir", str(data), "--to", database_url]) == 0
    out = capsys.readouterr().out
    assert "every count checked" in out and "messages=8" in out

    pg = make_store()
    assert {t: list(pg.db[t].rows_where(order_by=pg.db[t].pk)) for t in tables} == before
    assert [s["name"] for s in pg.stations_near(31.2, 121.4, 1000)] == ["站"]  # boxes rebuilt
    new_id = pg.add_user("wang", "caseworker", "hash", 3.0)
    assert new_id > max(u["id"] for u in before["users"])  # identities moved past the copied ids

    # a second run finds the target in use and writes nothing
    assert main(["migrate-db", "--data-dir", str(data), "--to", database_url]) == 1
    assert "not empty" in capsys.readouterr().err


def test_station_search_ignores_ascii_case_on_both(make_store):
    """SQLite's LIKE ignores ASCII case and PostgreSQL's does not: the search reads the same."""
    store = make_store()
    store.save_station({"name": "KFC门口驿站", "address": "南京路1号", "lat": 31.2, "lng": 121.4, "hours": "24小时",
                        "services": "饮水", "phone": "", "city": "上海", "district": "黄浦区", "updated": "2026-11-01",
                        "open_to_all": 1, "enabled": 1}, "li", 1.0)
    assert [s["name"] for s in store.search_stations("kfc")] == ["KFC门口驿站"]
    assert [s["name"] for s in store.search_stations("50%")] == []  # % is a character, not a wildcard


def test_a_claim_waits_while_a_delivery_holds_the_conversation(make_store):
    """The delivery's transaction reads the open conversation with lock=True and writes what it
    decided on it; a caseworker's claim through another connection meanwhile waits for that
    commit (PostgreSQL: the row lock; SQLite: the one writer), then still succeeds on what was
    written, so neither overwrites the other."""
    delivery, console = make_store(), make_store()
    delivery.touch_rider("wechat", "o_c", 1.0)
    conversation = delivery.open_conversation("wechat:o_c", 1.0)
    claimed = {}

    def claim() -> None:
        started = time.monotonic()
        claimed["ok"] = console.claim(conversation["id"], "li", 3.0)
        claimed["waited"] = time.monotonic() - started

    thread = threading.Thread(target=claim)
    with delivery.transaction():
        assert delivery.current_conversation("wechat:o_c", lock=True)["state"] == "bot"
        if delivery.db.dialect == "sqlite":
            delivery.update_conversation(conversation["id"], 2.0, misses=1)  # SQLite locks at the first write
        thread.start()
        time.sleep(0.5)
        assert "ok" not in claimed  # still waiting
        delivery.update_conversation(conversation["id"], 2.0, state="waiting", misses=1)
    thread.join(10)
    assert claimed["ok"] and claimed["waited"] >= 0.4
    assert {k: console.conversation(conversation["id"])[k] for k in ("state", "assigned_to", "misses")} == {
        "state": "assigned", "assigned_to": "li", "misses": 1}


@pytest.mark.postgresql_only
def test_backup_of_a_postgresql_deployment_is_a_pg_dump_that_restores(make_store, database_url, tmp_path,
                                                                      capsys, monkeypatch):
    import stat
    import subprocess

    from bot.cli import main
    store = make_store()
    store.add_user("li", "admin", "hash", 1.0)
    monkeypatch.setenv("GIGDESK_DATABASE_URL", database_url)
    assert main(["backup", str(tmp_path), "--data-dir", str(tmp_path / "data")]) == 0
    assert "read back by pg_restore" in capsys.readouterr().out
    [copy] = list(tmp_path.glob("gigdesk-*.pgdump"))
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    listing = subprocess.run(["pg_restore", "--list", str(copy)], capture_output=True, text=True, check=True).stdout
    assert " TABLE DATA " in listing and " users " in listing


@pytest.mark.postgresql_only
def test_rider_forget_and_purge_commands_work_on_postgresql(make_store, database_url, tmp_path, capsys,
                                                            monkeypatch):
    from bot.cli import main
    from tests.test_retention import add_rider, evidence

    data = tmp_path / "data"
    store = make_store()
    add_rider(store, "oAAAAAAAAAAAAAAAAAAAAAAAAAAA", "GH-2611-0001", ["case-1/a.jpg"])
    add_rider(store, "oBBBBBBBBBBBBBBBBBBBBBBBBBBB", "GH-2611-0002", ["case-2/b.jpg"])
    photo = evidence(data, "case-1/a.jpg")
    monkeypatch.setenv("GIGDESK_DATABASE_URL", database_url)
    assert main(["rider", "forget", "oAAAAAAAAAAAAAAAAAAAAAAAAAAA", "--data-dir", str(data)]) == 0
    out = capsys.readouterr().out
    assert "riders=1" in out and "files=1" in out and not photo.exists()
    assert store.rider("wechat:oAAAAAAAAAAAAAAAAAAAAAAAAAAA") is None
    assert store.rider("wechat:oBBBBBBBBBBBBBBBBBBBBBBBBBBB") is not None
    assert main(["purge", "--older-than", "1", "--data-dir", str(data)]) == 0
    assert capsys.readouterr().out.startswith("purged what ended more than 1 days ago: ")
    assert [e["action"] for e in store.audit_log()][:2] == ["purge", "rider_forget"]
