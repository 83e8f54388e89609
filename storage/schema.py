"""Schema changes, applied in order with sqlite_utils.Migrations. Never edit a migration that
has shipped: add a new one, so every existing database upgrades the same way."""
from __future__ import annotations

import hashlib

from sqlite_utils import Database, Migrations

migrations = Migrations("gigdesk")


@migrations()
def m001_core(db: Database) -> None:
    db["riders"].create({
        "id": str,  # "<channel>:<openid>"
        "channel": str,  # "wechat" | "web"
        "openid": str,
        "first_seen_at": float,  # epoch seconds
        "last_message_at": float,  # the 48-hour customer-service window runs from here
        "subscribed": int,
        "unsubscribed_at": float,
    }, pk="id", not_null={"channel", "openid", "first_seen_at"})

    db["conversations"].create({
        "id": int,
        "rider_id": str,
        "state": str,  # bot | waiting | assigned | closed
        "reason": str,  # why it waits for a person: asked | urgent | misses | topic
        "urgent": int,
        "misses": int,  # fallbacks in a row; two offer a person
        "pending": str,  # JSON: the clarify choices or the unread parts of a long answer
        "disclaimer_shown": int,
        "assigned_to": str,
        "created_at": float,
        "updated_at": float,
        "closed_at": float,
    }, pk="id", foreign_keys=[("rider_id", "riders", "id")],
        defaults={"state": "bot", "urgent": 0, "misses": 0, "disclaimer_shown": 0})
    db["conversations"].create_index(["rider_id", "state"])
    db["conversations"].create_index(["state", "urgent", "updated_at"])

    db["messages"].create({
        "id": int,
        "conversation_id": int,
        "rider_id": str,
        "direction": str,  # in | out
        "sender": str,  # rider | bot | caseworker name
        "kind": str,  # text | voice | image | event | ...
        "text": str,
        "intent": str,  # FAQ entry id, or a path such as handoff / emergency / fallback
        "score": float,
        "outcome": str,  # answer | clarify | fallback | handoff | emergency | ...
        "media_id": str,
        "created_at": float,
    }, pk="id", foreign_keys=[("conversation_id", "conversations", "id"), ("rider_id", "riders", "id")])
    db["messages"].create_index(["conversation_id", "id"])
    db["messages"].create_index(["rider_id", "created_at"])

    # One row per WeChat delivery we have accepted: WeChat retries a message up to three
    # times, and a retry after a restart must still be recognised.
    db["deliveries"].create({
        "key": str,
        "rider_id": str,
        "received_at": float,
        "replies": str,  # JSON list of reply texts once answered
        "late": int,  # 1: the answer went out through the customer-service API
    }, pk="key")
    db["deliveries"].create_index(["received_at"])

    # Questions the bot could not answer (or answered unsure), for the FAQ staff.
    db["unanswered"].create({
        "id": int,
        "message_id": int,
        "rider_id": str,
        "text": str,
        "normalised": str,
        "outcome": str,  # fallback | clarify
        "top_entry": str,
        "top_score": float,
        "created_at": float,
        "status": str,  # open | added | dismissed
    }, pk="id", defaults={"status": "open"})
    db["unanswered"].create_index(["status", "created_at"])


@migrations()
def m002_outbox(db: Database) -> None:
    # Everything sent later through WeChat's customer-service API, persisted so that nothing
    # is lost when WeChat or this process is down.
    db["outbox"].create({
        "id": int,
        "rider_id": str,
        "openid": str,
        "text": str,
        "message_id": int,  # the messages row this delivers, for its state in the transcript
        "state": str,  # queued | sent | failed
        "attempts": int,
        "next_attempt_at": float,
        "last_error": str,
        "created_at": float,
        "sent_at": float,
    }, pk="id", defaults={"state": "queued", "attempts": 0})
    db["outbox"].create_index(["state", "next_attempt_at"])


@migrations()
def m003_console(db: Database) -> None:
    # Caseworkers, editors and admins. Passwords are argon2 hashes, never the password.
    db["users"].create({
        "id": int,
        "name": str,
        "role": str,  # caseworker | editor | admin
        "password_hash": str,
        "active": int,
        "created_at": float,
        "last_login_at": float,
    }, pk="id", not_null={"name", "role", "password_hash"}, defaults={"active": 1})
    db["users"].create_index(["name"], unique=True)

    # Server-side sessions: the cookie holds a random token, the table only its SHA-256, so a
    # copy of the database cannot be used to log in, and a session can be ended at once.
    db["sessions"].create({
        "token_hash": str,
        "user_id": int,
        "csrf": str,
        "created_at": float,
        "last_seen_at": float,
        "expires_at": float,
    }, pk="token_hash", foreign_keys=[("user_id", "users", "id")])
    db["sessions"].create_index(["user_id"])

    # Who did what, when. Kept without personal content, so it survives a rider's deletion.
    db["audit"].create({
        "id": int,
        "at": float,
        "actor": str,
        "action": str,
        "target": str,
        "detail": str,  # JSON
    }, pk="id")
    db["audit"].create_index(["at"])

    # Internal notes on a conversation: caseworkers only, never sent to the rider.
    db["notes"].create({
        "id": int,
        "conversation_id": int,
        "author": str,
        "text": str,
        "created_at": float,
    }, pk="id", foreign_keys=[("conversation_id", "conversations", "id")])
    db["notes"].create_index(["conversation_id", "id"])

    conversations = db["conversations"]
    conversations.add_column("waiting_since", float)  # when it joined the queue; the wait runs from here
    conversations.add_column("escalated_at", float)  # when it was announced as waiting too long
    conversations.add_column("claimed_at", float)
    conversations.add_column("held_at", float)  # when the rider was last told to wait for a person
    conversations.create_index(["rider_id", "id"])

    outbox = db["outbox"]
    outbox.add_column("kind", str, not_null_default="text")  # text | template
    # state may now also be "held": outside the 48-hour window or over the quota, kept until
    # the rider writes again (see Store.release_held_outbox).
    outbox.create_index(["rider_id", "state"])


@migrations()
def m004_cases(db: Database) -> None:
    # Help requests a rider records in chat, followed up by the union.
    db["cases"].create({
        "id": int,
        "number": str,  # GH-2611-0042: easy to read out on the phone
        "rider_id": str,
        "conversation_id": int,  # where the intake happened
        "kind": str,  # a kind id from knowledge/cases.yaml
        "platform": str,
        "city": str,
        "happened": str,  # when it happened, in the rider's words
        "story": str,
        "phone": str,
        "status": str,  # new | accepted | in_progress | referred | resolved | closed
        "referred_to": str,  # 人社 | 仲裁 | 法律援助 when referred
        "urgent": int,
        "assigned_to": str,
        "created_at": float,
        "updated_at": float,
        "closed_at": float,
    }, pk="id", foreign_keys=[("rider_id", "riders", "id")], defaults={"status": "new", "urgent": 0})
    db["cases"].create_index(["number"], unique=True)
    db["cases"].create_index(["rider_id"])
    db["cases"].create_index(["status", "urgent", "created_at"])

    # Every change to a case: status changes with their required note, assignment, notes,
    # notifications sent to the rider.
    db["case_events"].create({
        "id": int,
        "case_id": int,
        "at": float,
        "actor": str,
        "action": str,  # created | status | assign | note | notify
        "from_status": str,
        "to_status": str,
        "note": str,
    }, pk="id", foreign_keys=[("case_id", "cases", "id")])
    db["case_events"].create_index(["case_id", "id"])

    # Images and voice the rider sent during the intake. WeChat keeps media for 3 days, so
    # they are fetched to files under the data folder; the path is ours, never the rider's.
    db["case_evidence"].create({
        "id": int,
        "case_id": int,
        "message_id": int,
        "kind": str,  # image | voice | video
        "media_id": str,
        "file": str,  # relative to data_dir/evidence once fetched
        "state": str,  # pending | saved | failed
        "error": str,
        "created_at": float,
    }, pk="id", foreign_keys=[("case_id", "cases", "id")], defaults={"state": "pending"})
    db["case_evidence"].create_index(["case_id"])
    db["case_evidence"].create_index(["state"])

    # Told once what is kept and why, before the first personal detail.
    db["riders"].add_column("privacy_noticed_at", float)


@migrations()
def m005_faq_review(db: Database) -> None:
    # Every change staff make to the FAQ files through the console: who, when, and the entry's
    # YAML before and after, so any change can be read back and reverted.
    db["faq_changes"].create({
        "id": int,
        "at": float,
        "actor": str,
        "action": str,  # edit | create | add_examples | revert
        "file": str,  # relative to the knowledge folder, e.g. faq/wages.yaml
        "entry_id": str,
        "before": str,  # the entry's YAML before the change; empty for a new entry
        "after": str,  # the entry's YAML after the change
        "reverts": int,  # for a revert: the change it undid
        "reverted_by": int,  # set on a change once it has been reverted
    }, pk="id")
    db["faq_changes"].create_index(["entry_id", "id"])

    # What became of an unanswered question: added to an entry, made into a new entry, dismissed.
    unanswered = db["unanswered"]
    unanswered.add_column("handled_by", str)
    unanswered.add_column("handled_at", float)
    unanswered.add_column("entry_id", str)  # the entry its text went to, when added
    unanswered.create_index(["normalised"])


@migrations()
def m006_dashboard_indexes(db: Database) -> None:
    # The dashboard (storage/stats.py) counts messages over a date range: this index holds every
    # column it reads, so a month of a million-message database is one index range scan,
    # never a table scan or a row lookup per message.
    db["messages"].create_index(["direction", "created_at", "kind", "sender", "outcome", "intent"],
                                index_name="messages_dashboard")
    # Handoff waiting and handling times over the claims and ends within the range, again
    # with the columns they read.
    db["conversations"].create_index(["claimed_at", "waiting_since"], index_name="conversations_claimed")
    db["conversations"].create_index(["closed_at", "claimed_at", "assigned_to"], index_name="conversations_closed")
    db["cases"].create_index(["created_at"])
    db["cases"].create_index(["closed_at"])


@migrations()
def m007_conversation_context(db: Database) -> None:
    # JSON: what the conversation is about (the last FAQ entry answered, the rider's words for
    # it, when), so a follow-up such as "那要什么材料" is read within that topic.
    db["conversations"].add_column("context", str)


def web_visitor_id(cookie: str) -> str:
    """The id a web-chat visitor is stored under: a hash of their cookie, never the cookie itself,
    which is a bearer secret (whoever has it reads and writes as that visitor)."""
    return hashlib.sha256(cookie.encode()).hexdigest()[:32]


@migrations()
def m008_hash_web_visitor_ids(db: Database) -> None:
    # Web riders were stored as "web:<cookie>", and the id reached the console. Every table that
    # names a rider is rewritten to "web:<hash>"; delivery keys ("w:<cookie>:<client id>") too.
    # Foreign keys are on, so the new rider row comes first and the old one goes last.
    tables = [t for t in db.table_names() if "rider_id" in db[t].columns_dict]
    for rider in list(db.query("SELECT * FROM riders WHERE channel = 'web'")):
        old, hashed = rider["id"], web_visitor_id(rider["openid"])
        db["riders"].insert(rider | {"id": f"web:{hashed}", "openid": hashed})
        for table in tables:
            db.execute(f"UPDATE [{table}] SET rider_id = ? WHERE rider_id = ?", [f"web:{hashed}", old])
        db.execute("DELETE FROM riders WHERE id = ?", [old])
    for row in list(db.query("SELECT key FROM deliveries WHERE key LIKE 'w:%'")):
        _, cookie, client_id = row["key"].split(":", 2)
        db.execute("UPDATE deliveries SET key = ? WHERE key = ?",
                   [f"w:{web_visitor_id(cookie)}:{client_id}", row["key"]])


@migrations()
def m009_claims(db: Database) -> None:
    # One row per time a caseworker holds a conversation, so the dashboard's waiting and
    # handling times stay exact after a release or a transfer (conversations.claimed_at kept
    # only the last claim). Only staff names and times: nothing of the rider, so retention
    # leaves these rows alone.
    db["claims"].create({
        "id": int,
        "conversation_id": int,
        "caseworker": str,
        "waited_from": float,  # when the rider joined the queue; NULL for a transfer
        "claimed_at": float,
        "ended_at": float,     # NULL while held
        "ended_by": str,       # released | transferred | closed
    }, pk="id")
    db["claims"].create_index(["conversation_id", "ended_at"])
    db["claims"].create_index(["claimed_at"])
    db["claims"].create_index(["ended_by", "ended_at"])
    # What the old columns still tell: the last claim of each conversation.
    db.execute(
        "INSERT INTO claims (conversation_id, caseworker, waited_from, claimed_at, ended_at, ended_by) "
        "SELECT id, COALESCE(assigned_to, '?'),"
        " CASE WHEN waiting_since <= claimed_at THEN waiting_since END, claimed_at,"
        " CASE WHEN state = 'assigned' THEN NULL"
        "      WHEN assigned_to IS NOT NULL THEN closed_at ELSE COALESCE(waiting_since, updated_at) END,"
        " CASE WHEN state = 'assigned' THEN NULL WHEN assigned_to IS NOT NULL THEN 'closed' ELSE 'released' END "
        "FROM conversations WHERE claimed_at IS NOT NULL")


@migrations()
def m010_stations(db: Database) -> None:
    # The union's rest stations (工会驿站), imported from its list (CSV) or edited in the console.
    # Coordinates in GCJ-02, as Chinese maps and WeChat's location messages give them.
    db["stations"].create({
        "id": int,
        "name": str,
        "address": str,
        "lat": float,
        "lng": float,
        "hours": str,  # as the union wrote it; stations/hours.py reads it
        "services": str,  # canonical names from stations/services.py, comma-separated
        "phone": str,
        "city": str,
        "district": str,
        "updated": str,  # YYYY-MM-DD: when the union last confirmed the details
        "open_to_all": int,  # 0: only for some workers (a company's own station, members only)
        "enabled": int,  # 0: disabled in the console or closed for good; never offered
        "sample": int,  # 1: demo mode's example set, never a real station
        "changed_at": float,
    }, pk="id", not_null={"name", "lat", "lng"}, defaults={"open_to_all": 1, "enabled": 1, "sample": 0})
    db["stations"].create_index(["name", "address"], unique=True)
    db["stations"].create_index(["updated"])
    # SQLite's R*Tree: the stations in a box around the rider in a few index pages, at any size.
    db.execute("CREATE VIRTUAL TABLE station_boxes USING rtree(id, min_lat, max_lat, min_lng, max_lng)")
    # Every change, as for FAQ edits: who, when, the station before and after (JSON).
    db["station_changes"].create({
        "id": int,
        "at": float,
        "actor": str,
        "action": str,  # create | edit | disable | enable | import
        "station_id": int,
        "before": str,
        "after": str,
    }, pk="id")
    db["station_changes"].create_index(["station_id", "id"])


@migrations()
def m011_evidence_lease(db: Database) -> None:
    # Until when a pending file is being fetched by one process: several workers (or hosts)
    # then fetch each rider's photo once, and a fetcher that died is replaced after the lease.
    db["case_evidence"].add_column("fetching_until", float)
