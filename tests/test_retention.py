"""Forgetting a rider and purging old records, on real SQLite files built through the Store API,
and `gigdesk rider forget` / `gigdesk purge` run as real processes."""
from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest
import sqlite_utils

from storage import Store
from storage.retention import TABLES, rider_hash
from tests.test_cli import clean_env, gigdesk, refused

DAY = 86400.0
NOW = 1_800_000_000.0
T = NOW - 10 * DAY  # when the riders of the forget tests wrote


def everything(db) -> dict[str, list[dict]]:
    """Every row of every table about riders, to compare before and after."""
    return {table: list(db[table].rows_where(order_by=db[table].pk)) for table in TABLES}


def mentions(row: dict, marker: str) -> bool:
    return any(marker in str(value) for value in row.values())


def add_case(store: Store, rider_id: str, conversation_id: int | None, number: str, status: str,
             updated_at: float, marker: str, files: list[str | None], message_id: int | None = None) -> int:
    """A case with two events and one evidence row per entry of `files` (None: not fetched yet).
    Every row carries `marker`, so a test can tell whose it is."""
    case_id = store.db["cases"].insert({
        "number": number, "rider_id": rider_id, "conversation_id": conversation_id, "kind": "wages",
        "platform": "美团", "city": "上海", "story": f"story of {marker}", "phone": "13812345678",
        "status": status, "urgent": 0, "created_at": updated_at - DAY, "updated_at": updated_at}).last_pk
    for action in ("created", "status"):
        store.db["case_events"].insert({"case_id": case_id, "at": updated_at, "actor": "li", "action": action,
                                        "to_status": status, "note": f"{action} for {marker}"})
    for i, file in enumerate(files):
        store.db["case_evidence"].insert({"case_id": case_id, "message_id": message_id, "kind": "image",
                                          "media_id": f"media-{marker}-{i}", "file": file,
                                          "state": "saved" if file else "pending", "created_at": updated_at})
    return case_id


def refuse_deleting_riders(store: Store) -> type[Exception]:
    """A trigger that makes deleting a riders row fail; the error it raises."""
    if store.db.dialect == "sqlite":
        store.db.execute("CREATE TRIGGER keep_riders BEFORE DELETE ON riders BEGIN SELECT RAISE(ABORT, 'no'); END")
        return sqlite3.IntegrityError
    import psycopg
    store.db.execute("CREATE FUNCTION keep_riders() RETURNS trigger LANGUAGE plpgsql AS"
                     " 'BEGIN RAISE EXCEPTION ''no''; END'")
    store.db.execute("CREATE TRIGGER keep_riders BEFORE DELETE ON riders FOR EACH ROW EXECUTE FUNCTION keep_riders()")
    return psycopg.errors.RaiseException


def add_rider(store: Store, openid: str, number: str, files: list[str | None], channel: str = "wechat") -> str:
    """A rider with one of everything: a closed and an open conversation, messages, a note, an
    outbox row and a template notice, an unanswered question, two deliveries and a case with events and evidence."""
    rider_id = f"{channel}:{openid}"
    store.touch_rider(channel, openid, T)
    old = store.open_conversation(rider_id, T)
    store.add_message(old, "in", T, kind="text", text="押金不退")
    store.add_message(old, "out", T, kind="text", text="押金的规定是……", outcome="answer")
    store.close_conversation(old["id"], T + 60)
    conversation = store.open_conversation(rider_id, T + 120)
    assert conversation["id"] != old["id"]
    question = store.add_message(conversation, "in", T + 120, kind="text", text="我的电话 13812345678")
    reply = store.add_message(conversation, "out", T + 130, sender="li", kind="text", text="收到")
    store.add_note(conversation["id"], "li", f"note about {openid}", T + 140)
    store.enqueue_outbox(rider_id, openid, "收到", reply, T + 130)
    store.enqueue_outbox(rider_id, openid, "工作人员回复了你", None, T + 130, kind="template")
    store.record_unanswered(question, rider_id, "我的电话 13812345678", "我的电话", "fallback", None, None,
                            T + 120)
    assert store.claim_delivery(f"{channel}:{openid}:1", rider_id, T)
    assert store.claim_delivery(f"{channel}:{openid}:2", rider_id, T + 120)
    add_case(store, rider_id, conversation["id"], number, "in_progress", T + 150, openid, files)
    return rider_id


pytestmark = pytest.mark.both_backends


@pytest.fixture
def store(make_store):
    return make_store()


# --- forget ------------------------------------------------------------------------------------

def test_forget_deletes_every_row_of_the_rider_and_nothing_of_the_other(store):
    rider = add_rider(store, "oAAAAAAAAAAAAAAAAAAAAAAAAAAA", "GH-2611-0001", ["case-1/a.jpg", None])
    add_rider(store, "oBBBBBBBBBBBBBBBBBBBBBBBBBBB", "GH-2611-0002", ["case-2/b.jpg"])
    before = everything(store.db)

    result = store.forget_rider(rider, "li", NOW)

    assert result == {"riders": 1, "conversations": 2, "messages": 4, "notes": 1, "cases": 1, "case_events": 2,
                      "case_evidence": 2, "outbox": 2, "deliveries": 2, "unanswered": 1,
                      "files": ["case-1/a.jpg"]}
    after = everything(store.db)
    for table in TABLES:
        assert not [row for row in after[table] if mentions(row, "oAAAA")], table
        # the other rider's rows are all there, unchanged
        assert after[table] == [row for row in before[table] if not mentions(row, "oAAAA")], table
        assert after[table], f"{table}: the other rider's rows are gone too"
    if store.db.dialect == "sqlite":  # PostgreSQL checks foreign keys at every statement
        assert list(store.db.execute("PRAGMA foreign_key_check").fetchall()) == []


def test_forget_is_audited_without_the_openid(store):
    rider = add_rider(store, "oAAAAAAAAAAAAAAAAAAAAAAAAAAA", "GH-2611-0001", ["case-1/a.jpg"])
    store.forget_rider(rider, "li", NOW)

    entries = store.audit_log()
    assert len(entries) == 1
    entry = entries[0]
    assert entry["target"] == "rider:" + hashlib.sha256(rider.encode()).hexdigest()[:12]
    assert (entry["actor"], entry["action"], entry["at"]) == ("li", "rider_forget", NOW)
    assert json.loads(entry["detail"])["messages"] == 4
    assert not mentions(entry, "oAAAA") and not mentions(entry, "13812345678")


def test_rider_hash_is_the_first_12_hex_digits_of_sha256():
    assert rider_hash("wechat:o1") == hashlib.sha256(b"wechat:o1").hexdigest()[:12]
    assert len(rider_hash("web:x")) == 12 and rider_hash("web:x") != rider_hash("wechat:x")


def test_forget_an_unknown_rider_changes_nothing(store):
    add_rider(store, "oBBBBBBBBBBBBBBBBBBBBBBBBBBB", "GH-2611-0002", ["case-2/b.jpg"])
    before = everything(store.db)
    result = store.forget_rider("wechat:nobody", "li", NOW)
    assert result == {**dict.fromkeys(TABLES, 0), "files": []}
    assert everything(store.db) == before


def test_forget_is_one_transaction(store):
    rider = add_rider(store, "oAAAAAAAAAAAAAAAAAAAAAAAAAAA", "GH-2611-0001", ["case-1/a.jpg"])
    before = everything(store.db)
    # The riders row goes last; refusing it must leave everything deleted before it in place.
    with pytest.raises(refuse_deleting_riders(store)):
        store.forget_rider(rider, "li", NOW)
    assert everything(store.db) == before
    assert store.audit_log() == []


# --- purge -------------------------------------------------------------------------------------

CUTOFF = NOW - 365 * DAY
OLD, RECENT = CUTOFF - DAY, CUTOFF + DAY


def conversation(store: Store, openid: str, at: float, closed_at: float | None = None,
                 last_message_at: float | None = None) -> tuple[int, int]:
    """A conversation with one message and one note, closed at `closed_at` unless None.
    Returns (conversation id, message id)."""
    store.touch_rider("wechat", openid, last_message_at or at)
    c = store.open_conversation(f"wechat:{openid}", at)
    message = store.add_message(c, "in", at, kind="text", text=f"text of {openid}")
    store.add_note(c["id"], "li", f"note on {openid}", at)
    if closed_at is not None:
        store.close_conversation(c["id"], closed_at)
    return c["id"], message


@pytest.fixture
def aged(store):
    """Riders in every situation purge must tell apart; ids by name."""
    ids = {}
    # old and done: everything goes, the rider too
    ids["c_old"], m = conversation(store, "o_old", OLD - DAY, closed_at=OLD)
    ids["outbox_old"] = store.enqueue_outbox("wechat:o_old", "o_old", "reply", m, OLD - DAY)
    ids["outbox_template"] = store.enqueue_outbox("wechat:o_old", "o_old", "notice", None, OLD - DAY, kind="template")
    store.record_unanswered(m, "wechat:o_old", "q", "q", "fallback", None, None, OLD - DAY)
    store.claim_delivery("m:o_old:1", "wechat:o_old", OLD - DAY)
    # open for a year: never touched
    ids["c_open"], _ = conversation(store, "o_open", OLD - DAY)
    # closed long ago, but the intake of a case still in progress
    ids["c_intake"], m = conversation(store, "o_case", OLD - DAY, closed_at=OLD)
    ids["c_evidence"], evidence_message = conversation(store, "o_case", OLD - DAY, closed_at=OLD)
    ids["case_open"] = add_case(store, "wechat:o_case", ids["c_intake"], "GH-2511-0001", "in_progress", OLD,
                                "o_case", ["case-open/photo.jpg"], message_id=evidence_message)
    # closed exactly at the cutoff and after it: kept
    ids["c_at_cutoff"], _ = conversation(store, "o_recent", OLD - DAY, closed_at=CUTOFF)
    ids["c_recent"], m = conversation(store, "o_recent", CUTOFF, closed_at=RECENT)
    ids["outbox_recent"] = store.enqueue_outbox("wechat:o_recent", "o_recent", "reply", m, CUTOFF)
    store.record_unanswered(m, "wechat:o_recent", "q", "q", "fallback", None, None, RECENT)
    store.claim_delivery("m:o_recent:1", "wechat:o_recent", OLD - DAY)  # old delivery of a kept rider: goes
    store.claim_delivery("m:o_recent:2", "wechat:o_recent", RECENT)
    # a resolved case, old, with its closed conversation: all goes
    ids["c_resolved"], _ = conversation(store, "o_resolved", OLD - DAY, closed_at=OLD)
    ids["case_resolved"] = add_case(store, "wechat:o_resolved", ids["c_resolved"], "GH-2511-0002", "resolved", OLD,
                                    "o_resolved", ["case-resolved/a.jpg", None, "case-resolved/b.amr"])
    # a case closed recently still points at its old conversation: both kept
    ids["c_closed_recently"], _ = conversation(store, "o_closed_recently", OLD - DAY, closed_at=OLD)
    ids["case_closed_recently"] = add_case(store, "wechat:o_closed_recently", ids["c_closed_recently"],
                                           "GH-2511-0003", "closed", RECENT, "o_closed_recently", ["keep/c.jpg"])
    # an old closed conversation and a recent one: only the old goes, the rider stays
    ids["c_two_old"], _ = conversation(store, "o_two", OLD - DAY, closed_at=OLD)
    ids["c_two_recent"], _ = conversation(store, "o_two", RECENT, closed_at=RECENT)
    # riders who never wrote: gone when first seen long ago
    store.touch_rider("wechat", "o_silent_old", OLD, from_rider=False)
    store.touch_rider("wechat", "o_silent_new", RECENT, from_rider=False)
    return ids


def rider_ids(store: Store) -> set[str]:
    return {row["id"] for row in store.db["riders"].rows}


def ids_of(store: Store, table: str) -> set[int]:
    return {row["id"] for row in store.db[table].rows}


def test_purge_removes_old_closed_things_and_keeps_open_recent_and_linked_ones(store, aged):
    result = store.purge(CUTOFF, NOW)

    assert result == {"riders": 3, "conversations": 3, "messages": 3, "notes": 3, "cases": 1, "case_events": 2,
                      "case_evidence": 3, "outbox": 2, "deliveries": 2, "unanswered": 1,
                      "files": ["case-resolved/a.jpg", "case-resolved/b.amr"]}
    assert ids_of(store, "conversations") == {aged[k] for k in (
        "c_open", "c_intake", "c_evidence", "c_at_cutoff", "c_recent", "c_closed_recently", "c_two_recent")}
    kept_conversations = ids_of(store, "conversations")
    assert {r["conversation_id"] for r in store.db["messages"].rows} == kept_conversations
    assert {r["conversation_id"] for r in store.db["notes"].rows} == kept_conversations
    assert ids_of(store, "cases") == {aged["case_open"], aged["case_closed_recently"]}
    assert {r["case_id"] for r in store.db["case_events"].rows} == ids_of(store, "cases")
    assert {r["case_id"] for r in store.db["case_evidence"].rows} == ids_of(store, "cases")
    assert ids_of(store, "outbox") == {aged["outbox_recent"]}
    assert [r["key"] for r in store.db["deliveries"].rows] == ["m:o_recent:2"]
    assert [r["rider_id"] for r in store.db["unanswered"].rows] == ["wechat:o_recent"]
    assert rider_ids(store) == {"wechat:o_open", "wechat:o_case", "wechat:o_recent", "wechat:o_closed_recently",
                                "wechat:o_two", "wechat:o_silent_new"}
    if store.db.dialect == "sqlite":  # PostgreSQL checks foreign keys at every statement
        assert list(store.db.execute("PRAGMA foreign_key_check").fetchall()) == []

    entries = store.audit_log()
    assert [(e["actor"], e["action"]) for e in entries] == [("purge", "purge")]
    detail = json.loads(entries[0]["detail"])
    assert {k: detail[k] for k in TABLES} == {k: result[k] for k in TABLES}
    assert not mentions(entries[0], "o_")

    # a second run finds nothing more
    again = store.purge(CUTOFF, NOW)
    assert again == {**dict.fromkeys(TABLES, 0), "files": []}


def test_purge_never_touches_an_open_case_even_if_old(store):
    conversation_id, _ = conversation(store, "o_case", OLD - 100 * DAY, closed_at=OLD - 100 * DAY)
    case_id = add_case(store, "wechat:o_case", conversation_id, "GH-2411-0001", "new", OLD - 100 * DAY,
                       "o_case", ["x.jpg"])
    store.purge(CUTOFF, NOW)
    assert ids_of(store, "cases") == {case_id}
    assert ids_of(store, "conversations") == {conversation_id}
    assert len(list(store.db["case_evidence"].rows)) == 1 and rider_ids(store) == {"wechat:o_case"}


def test_purge_is_one_transaction(store, aged):
    before = everything(store.db)
    with pytest.raises(refuse_deleting_riders(store)):
        store.purge(CUTOFF, NOW)
    assert everything(store.db) == before
    assert store.audit_log() == []


# --- the commands, as real processes -----------------------------------------------------------

def evidence(data: Path, name: str) -> Path:
    path = data / "evidence" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\xff\xd8 a photo")
    return path


def database_text(data: Path) -> str:
    """Every value in the database, to look for an openid in. Blobs (the stations' R*Tree
    nodes) are read as text too, so an openid stored in one would still be found."""
    db = sqlite_utils.Database(data / "gigdesk.db")
    try:
        return json.dumps({t: list(db[t].rows) for t in db.table_names()}, ensure_ascii=False,
                          default=lambda value: value.decode("utf-8", "replace"))
    finally:
        db.close()


def test_rider_forget_command_deletes_both_channels_and_the_evidence_files(tmp_path):
    data = tmp_path / "data"
    store = Store(data / "gigdesk.db")
    add_rider(store, "oAAAAAAAAAAAAAAAAAAAAAAAAAAA", "GH-2611-0001", ["case-1/a.jpg"])
    add_rider(store, "oAAAAAAAAAAAAAAAAAAAAAAAAAAA", "GH-2611-0002", ["case-2/a.jpg"], channel="web")
    add_rider(store, "oBBBBBBBBBBBBBBBBBBBBBBBBBBB", "GH-2611-0003", ["case-3/b.jpg"])
    store.close()
    mine = [evidence(data, "case-1/a.jpg"), evidence(data, "case-2/a.jpg")]
    theirs = evidence(data, "case-3/b.jpg")

    result = gigdesk(["rider", "forget", "oAAAAAAAAAAAAAAAAAAAAAAAAAAA", "--data-dir", str(data)], tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1 and "riders=2" in lines[0] and "messages=8" in lines[0] and "files=2" in lines[0]
    assert not any(p.exists() for p in mine) and not (data / "evidence" / "case-1").exists()
    assert theirs.exists()
    text = database_text(data)
    assert "oAAAA" not in text and "oBBBB" in text


def test_rider_forget_command_with_a_channel_forgets_only_that_one(tmp_path):
    data = tmp_path / "data"
    store = Store(data / "gigdesk.db")
    add_rider(store, "oA", "GH-2611-0001", [])
    add_rider(store, "oA", "GH-2611-0002", [], channel="web")
    store.close()
    result = gigdesk(["rider", "forget", "web:oA", "--data-dir", str(data)], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "riders=1" in result.stdout
    db = sqlite_utils.Database(data / "gigdesk.db")
    assert [r["id"] for r in db["riders"].rows] == ["wechat:oA"]
    assert {r["rider_id"] for r in db["messages"].rows} == {"wechat:oA"}


def test_rider_forget_command_for_an_unknown_rider_says_so_and_exits_1(tmp_path):
    data = tmp_path / "data"
    store = Store(data / "gigdesk.db")
    add_rider(store, "oB", "GH-2611-0001", [])
    store.close()
    result = gigdesk(["rider", "forget", "nobody", "--data-dir", str(data)], tmp_path)
    assert result.returncode == 1
    assert "nothing found" in result.stdout and "Traceback" not in result.stderr
    assert "wechat:oB" in database_text(data)


def test_rider_forget_command_refuses_evidence_paths_outside_the_evidence_folder(tmp_path):
    data = tmp_path / "data"
    outside = tmp_path / "outside.txt"
    outside.write_text("not evidence", "utf-8")
    beside = data / "gigdesk.toml.bak"
    store = Store(data / "gigdesk.db")
    beside.write_text("not evidence either", "utf-8")
    (data / "evidence").mkdir()
    (data / "evidence" / "link.jpg").symlink_to(outside)
    add_rider(store, "oAAAAAAAAAAAAAAAAAAAAAAAAAAA", "GH-2611-0001",
              ["../../outside.txt", "../gigdesk.toml.bak", str(outside), "link.jpg", "case-1/ok.jpg", "."])
    store.close()
    ok = evidence(data, "case-1/ok.jpg")

    result = gigdesk(["rider", "forget", "wechat:oAAAAAAAAAAAAAAAAAAAAAAAAAAA", "--data-dir", str(data)], tmp_path)

    line = refused(result)
    assert result.returncode == 2
    assert all(f"refused {name!r}" in line for name in ("../../outside.txt", "../gigdesk.toml.bak", str(outside),
                                                          "link.jpg", "."))
    assert outside.read_text("utf-8") == "not evidence" and beside.exists() and (data / "gigdesk.db").exists()
    assert not ok.exists()  # the safe one still went
    assert "riders=1" in result.stdout and "files=1" in result.stdout  # the rows are gone all the same
    assert "wechat:oAAAA" not in database_text(data)


def test_rider_forget_command_without_a_database_is_one_line_and_creates_nothing(tmp_path):
    line = refused(gigdesk(["rider", "forget", "oA", "--data-dir", str(tmp_path / "nowhere")], tmp_path))
    assert "no database" in line
    assert not (tmp_path / "nowhere").exists()


def purge_fixture(data: Path) -> None:
    """Conversations closed 100, 20 and 5 days ago, and a resolved case with a file, 100 days old."""
    import time
    now = time.time()
    store = Store(data / "gigdesk.db")
    for openid, days in (("o100", 100), ("o20", 20), ("o5", 5)):
        conversation(store, openid, now - (days + 1) * DAY, closed_at=now - days * DAY)
    c, _ = conversation(store, "o_case", now - 101 * DAY, closed_at=now - 100 * DAY)
    add_case(store, "wechat:o_case", c, "GH-2511-0001", "resolved", now - 100 * DAY, "o_case", ["old/a.jpg"])
    store.close()


def test_purge_command_removes_what_is_older_and_its_evidence_files(tmp_path):
    data = tmp_path / "data"
    purge_fixture(data)
    photo = evidence(data, "old/a.jpg")

    result = gigdesk(["purge", "--older-than", "30", "--data-dir", str(data)], tmp_path)

    assert result.returncode == 0, result.stderr
    assert "conversations=2" in result.stdout and "cases=1" in result.stdout and "files=1" in result.stdout
    assert not photo.exists()
    db = sqlite_utils.Database(data / "gigdesk.db")
    assert {r["id"] for r in db["riders"].rows} == {"wechat:o20", "wechat:o5"}
    audit = list(db["audit"].rows)
    assert [(a["actor"], a["action"]) for a in audit] == [("cli", "purge")]


def test_purge_command_defaults_to_the_retention_days_setting(tmp_path):
    data = tmp_path / "data"
    purge_fixture(data)
    result = gigdesk(["purge", "--data-dir", str(data)], tmp_path, clean_env(GIGDESK_RETENTION_DAYS="10"))
    assert result.returncode == 0, result.stderr
    assert "10 days" in result.stdout
    db = sqlite_utils.Database(data / "gigdesk.db")
    assert {r["id"] for r in db["riders"].rows} == {"wechat:o5"}


def test_retention_days_defaults_to_a_year():
    from bot.settings import Settings
    assert Settings().retention_days == 365


@pytest.mark.parametrize("days", ["0", "-3", "abc", "1.5", "99999999999999999999"])
def test_purge_command_refuses_a_bad_number_of_days(tmp_path, days):
    data = tmp_path / "data"
    purge_fixture(data)
    before = database_text(data)
    line = refused(gigdesk(["purge", f"--older-than={days}", "--data-dir", str(data)], tmp_path))
    assert "--older-than" in line and repr(days) in line
    assert database_text(data) == before


def test_purge_command_refuses_a_bad_retention_days_setting(tmp_path):
    data = tmp_path / "data"
    purge_fixture(data)
    line = refused(gigdesk(["purge", "--data-dir", str(data)], tmp_path, clean_env(GIGDESK_RETENTION_DAYS="0")))
    assert "retention_days" in line
    assert "wechat:o100" in database_text(data)
