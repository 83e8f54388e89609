"""A delivery is decided before its write transaction and stored in one short transaction that
checks what the decision read (bot/delivery.py): through the real webhook, on a real SQLite
file and on PostgreSQL, with a second connection standing in for another process."""
from __future__ import annotations

import asyncio
import json
import threading
import time

import pytest
import xmltodict

from bot.app import DELIVERIES, ENGINE, STORE
from storage.store import fresh_conversation
from tests.conftest import reply_content, send_text, signed_query, wechat_xml

pytestmark = pytest.mark.both_backends


async def post(client, xml: str):
    return await client.post(signed_query(), data=xml.encode())


async def until(condition) -> None:
    """Waits (without a deadline of its own: pytest's timeout applies) until condition() holds."""
    while not condition():
        await asyncio.sleep(0.01)


def hold_decisions(engine) -> tuple[threading.Event, threading.Event]:
    """Every decision of this engine waits (on the database thread) until release is set;
    entered is set once one has begun."""
    real_decide, entered, release = engine.decide, threading.Event(), threading.Event()

    def held_decide(turn):
        entered.set()
        release.wait(30)
        return real_decide(turn)

    engine.decide = held_decide
    return entered, release


def in_messages(store, rider_id: str) -> list[dict]:
    return [r for r in store.rider_messages(rider_id) if r["direction"] == "in"]


async def test_a_retry_arriving_while_the_first_is_decided_gets_the_same_reply_once(client):
    engine, store = client.app[ENGINE], client.app[STORE].store
    entered, release = hold_decisions(engine)  # the first delivery is being decided when its retry arrives
    xml = wechat_xml("text", openid="o_retry_mid", content="押金不给退怎么办", msgid="777001")
    first = asyncio.ensure_future(post(client, xml))
    await until(entered.is_set)
    retry = asyncio.ensure_future(post(client, xml))
    await asyncio.sleep(0.05)  # let the retry reach the server too
    release.set()
    answers = [reply_content(await (await r).text()) for r in (first, retry)]
    assert "押金" in answers[0] and answers[1] == answers[0]
    assert len(in_messages(store, "wechat:o_retry_mid")) == 1
    assert store.db.execute("SELECT COUNT(*) FROM deliveries WHERE key LIKE '%777001'").fetchone()[0] == 1


async def test_a_conversation_changed_while_deciding_is_decided_again_on_what_is_stored(client):
    """A caseworker (here another process's connection) takes the conversation while the bot is
    deciding the rider's message: the bot must not answer over the person."""
    engine, store = client.app[ENGINE], client.app[STORE].store
    await send_text(client, "你好", openid="o_taken")
    [conversation] = [c for c in store.conversations_in_state("bot") if c["rider_id"] == "wechat:o_taken"]
    real_decide, calls = engine.decide, []

    def decide_while_taken(turn):
        calls.append(turn.state)
        if len(calls) == 1:
            other = store.reopen()  # another process
            assert other.claim(conversation["id"], "anna", time.time())
            other.close()
        return real_decide(turn)

    engine.decide = decide_while_taken
    resp = await post(client, wechat_xml("text", openid="o_taken", content="押金不给退怎么办", msgid="777002"))
    text = await resp.text()
    assert calls == ["bot", "assigned"]  # decided on the snapshot, then again inside the transaction
    assert "押金" not in text  # no FAQ answer over the caseworker's head
    rows = store.rider_messages("wechat:o_taken")
    assert [r["text"] for r in rows if r["direction"] == "in"] == ["你好", "押金不给退怎么办"]
    assert store.conversation(conversation["id"])["state"] == "assigned"


async def test_a_first_message_is_decided_before_the_rider_or_conversation_exists(client):
    engine, store = client.app[ENGINE], client.app[STORE].store
    real_decide, seen = engine.decide, []

    def watching(turn):
        seen.append((store.rider("wechat:o_brand_new"), turn.conversation["id"]))
        return real_decide(turn)

    engine.decide = watching
    content = await send_text(client, "押金不给退怎么办", openid="o_brand_new")
    assert "押金" in content
    assert seen == [(None, None)]  # decided once, on nothing stored yet, and not again
    [conversation] = [c for c in store.conversations_in_state("bot") if c["rider_id"] == "wechat:o_brand_new"]
    assert [r["conversation_id"] for r in store.rider_messages("wechat:o_brand_new")] == [conversation["id"]] * 2


def test_a_new_conversation_is_stored_as_it_was_decided_on(make_store):
    """fresh_conversation is what a rider's first message is decided on; it must name every
    column and match what new_conversation writes (a migration adding a column fails here)."""
    store = make_store()
    store.touch_rider("wechat", "o_fresh", 1700000000.5)
    written = store.new_conversation("wechat:o_fresh", 1700000000.5)
    columns = list(store.db.columns("conversations"))
    assert list(fresh_conversation("wechat:o_fresh", 1700000000.5)) == columns
    assert {**fresh_conversation("wechat:o_fresh", 1700000000.5), "id": written["id"]} == written
    store.close()


# --- group commit ----------------------------------------------------------------------------

async def queue_behind_a_busy_database(client, xmls: list[str]):
    """Holds the database thread while the messages arrive, so they wait together and go in
    one batch; returns the requests in flight and the event that lets the thread go."""
    deliveries, store = client.app[DELIVERIES], client.app[STORE]
    deliveries.decide_seconds = 600  # one batch, however slow this machine is
    release = threading.Event()
    busy = asyncio.ensure_future(store.run(release.wait, 60))
    requests = [asyncio.ensure_future(post(client, xml)) for xml in xmls]
    await until(lambda: deliveries.waiting() == len(xmls))
    release.set()
    await busy
    return requests


async def test_group_commit_answers_each_only_once_its_batch_is_committed(client):
    store, deliveries = client.app[STORE].store, client.app[DELIVERIES]
    riders = [f"o_group_{n}" for n in range(6)]
    xmls = [wechat_xml("text", openid=openid, content="押金不给退怎么办", msgid=f"88800{n}")
            for n, openid in enumerate(riders)]
    batches = deliveries.batches
    requests = await queue_behind_a_busy_database(client, xmls)
    # Another connection sees only what is committed: each answer, as it arrives, must be there.
    other = store.reopen()
    for request in asyncio.as_completed(requests):
        body = await (await request).text()
        answer, openid = reply_content(body), xmltodict.parse(body)["xml"]["ToUserName"]
        [(replies,)] = other.db.execute("SELECT replies FROM deliveries WHERE rider_id = ?", [f"wechat:{openid}"])
        assert "押金" in answer and json.loads(replies) == [answer]
    other.close()
    assert deliveries.batches == batches + 1  # one transaction for the six
    for openid in riders:
        assert [r["direction"] for r in store.rider_messages(f"wechat:{openid}")] == ["in", "out"]


async def test_a_rider_twice_in_one_batch_is_decided_in_order(client):
    """The second message is decided on what the first stored (转人工, then a question while
    waiting), exactly as when the two come one at a time."""
    store = client.app[STORE].store
    words = ["你好", "转人工", "押金不给退怎么办", "结束人工", "押金不给退怎么办"]
    for n, text in enumerate(words):
        await post(client, wechat_xml("text", openid="o_one_by_one", content=text, msgid=f"88910{n}"))
    await post(client, wechat_xml("text", openid="o_twice", content=words[0], msgid="889200"))
    requests = await queue_behind_a_busy_database(
        client, [wechat_xml("text", openid="o_twice", content=text, msgid=f"88920{n}")
                 for n, text in enumerate(words) if n])
    await asyncio.gather(*requests)

    def said(openid: str) -> list[tuple]:
        return [(r["direction"], r["text"] if r["direction"] == "in" else r["outcome"])
                for r in store.rider_messages(f"wechat:{openid}")]

    assert said("o_twice") == said("o_one_by_one")
    assert ("out", "handoff") in said("o_twice")


@pytest.mark.provokes_an_internal_error
async def test_one_failing_delivery_costs_only_its_own_answer(client):
    """The batch's transaction is rolled back and each is written alone: the others are
    answered and stored, the failing one gets "success", nothing of it stored (so WeChat's
    retry is handled as new)."""
    engine, store = client.app[ENGINE], client.app[STORE].store
    real_record = engine.record

    def failing_for_one(store_, turn, decision):
        if turn.inbound.openid == "o_fails":
            raise RuntimeError("simulated failure while storing")
        return real_record(store_, turn, decision)

    engine.record = failing_for_one
    riders = ["o_fine_1", "o_fails", "o_fine_2"]
    xmls = [wechat_xml("text", openid=openid, content="押金不给退怎么办", msgid=f"89000{n}")
            for n, openid in enumerate(riders)]
    requests = await queue_behind_a_busy_database(client, xmls)
    texts = [await (await r).text() for r in requests]
    assert "押金" in reply_content(texts[0]) and "押金" in reply_content(texts[2])
    assert texts[1] == "success"
    assert store.delivery(f"m:o_fails:890001") is None and store.rider("wechat:o_fails") is None
    engine.record = real_record
    retried = await post(client, xmls[1])
    assert "押金" in reply_content(await retried.text())
    assert len(in_messages(store, "wechat:o_fails")) == 1


async def test_a_new_rider_written_by_another_process_meanwhile_is_decided_again(client):
    """Decided as a rider never seen (no privacy notice yet); another process stores the rider,
    notice given, before the transaction: the message is decided again on the stored row."""
    engine, store = client.app[ENGINE], client.app[STORE].store
    real_decide, calls = engine.decide, []

    def decide_while_stored(turn):
        calls.append(turn.conversation["id"])
        if len(calls) == 1:
            other = store.reopen()
            other.touch_rider("wechat", "o_raced", time.time())
            other.mark_privacy_noticed("wechat:o_raced", time.time())
            other.close()
        return real_decide(turn)

    engine.decide = decide_while_stored
    assert "押金" in await send_text(client, "押金不给退怎么办", openid="o_raced")
    assert len(calls) == 2 and calls[0] is None and calls[1] is not None
    assert len(in_messages(store, "wechat:o_raced")) == 1


async def test_a_failing_hook_after_the_commit_costs_the_rider_nothing(client, caplog):
    """engine.observe (metrics) must not raise; if it does, the committed answer still goes."""
    engine = client.app[ENGINE]

    def broken(reply):
        raise RuntimeError("simulated bug in a metrics hook")

    engine.observe = broken
    resp = await post(client, wechat_xml("text", openid="o_observed", content="押金不给退怎么办", msgid="895001"))
    assert "押金" in reply_content(await resp.text())
    assert any("observe failed" in r.getMessage() for r in caplog.records)


async def test_a_retry_landing_on_another_instance_gets_the_same_reply_once(aiohttp_client, settings):
    """Two gigdesk instances behind one nginx, sharing the database (the same SQLite file, or
    one PostgreSQL): WeChat's retry of a message reaches the second while the first is still
    deciding it. Whichever claims the delivery key first stores the message and its reply (here
    the second, the first being held); the other answers with what was stored. (The claim
    waiting for another's uncommitted one: tests/test_storage_backends.py.)"""
    from bot.app import create_app
    first, second = await aiohttp_client(create_app(settings)), await aiohttp_client(create_app(settings))
    entered, release = hold_decisions(first.app[ENGINE])
    xml = wechat_xml("text", openid="o_two_instances", content="押金不给退怎么办", msgid="778001")
    original = asyncio.ensure_future(post(first, xml))
    await until(entered.is_set)
    retry = asyncio.ensure_future(post(second, xml))
    await asyncio.sleep(0.2)  # the retry is in the second instance meanwhile
    release.set()
    answers = [reply_content(await (await r).text()) for r in (original, retry)]
    assert "押金" in answers[0] and answers[1] == answers[0]
    store = second.app[STORE].store
    assert len(in_messages(store, "wechat:o_two_instances")) == 1
    assert store.db.execute("SELECT COUNT(*) FROM deliveries WHERE key LIKE '%778001'").fetchone()[0] == 1
