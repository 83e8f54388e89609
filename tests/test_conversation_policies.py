"""The conversation engine's policies, each read alone on a real Turn (real knowledge, a real
database on either backend), and the promise that lets the decision run without a lock:
deciding writes nothing; apply.py stores what was decided."""
from __future__ import annotations

import contextlib
import time

import pytest

from bot.app import load_or_fail
from bot.brain import build_brain
from bot.conversation import Engine, Inbound
from bot.conversation import cases, danger, faq, smalltalk
from bot.conversation.apply import apply
from bot.conversation.model import Turn
from bot.settings import KNOWLEDGE_DIR
from storage import Store

pytestmark = pytest.mark.both_backends

@pytest.fixture(scope="module")
def brain():
    return build_brain(load_or_fail(KNOWLEDGE_DIR))


@pytest.fixture
def store(make_store):
    return make_store()


@contextlib.contextmanager
def read_only(store: Store):
    """Any write on the store's connection fails meanwhile: SQLite's query_only, PostgreSQL's
    read-only transactions (each statement outside atomic() is one)."""
    on, off = (("PRAGMA query_only = ON", "PRAGMA query_only = OFF") if store.db.dialect == "sqlite" else
               ("SET default_transaction_read_only = on", "SET default_transaction_read_only = off"))
    store.db.execute(on)
    try:
        yield
    finally:
        store.db.execute(off)


@pytest.fixture
def engine(brain):
    return Engine(brain, {"union_hotline": "12351", "union_name": "测试市总工会"})


def text(words: str, at: float | None = None, kind: str = "text", **fields) -> Inbound:
    return Inbound("wechat", "o_policy_rider", kind, at or time.time(), text=words, **fields)


def turn_for(store: Store, engine: Engine, inbound: Inbound) -> Turn:
    rider = store.touch_rider(inbound.channel, inbound.openid, inbound.received_at)
    conversation = store.open_conversation(rider["id"], inbound.received_at)
    return Turn(inbound, conversation, engine, engine.brain, store)


def test_a_policy_reads_the_turn_and_returns_the_emergency_as_data(store, engine):
    turn = turn_for(store, engine, text("有个男的拿着刀一直跟着我"))
    decided = danger.decide(turn)
    assert "110" in decided.reply.text.split("\n")[0]
    assert decided.changes.conversation["state"] == "waiting"
    assert decided.changes.conversation["urgent"] == 1
    # Nothing is stored until the decision is applied.
    assert store.conversation(turn.conversation["id"])["state"] == "bot"
    apply(store, turn, decided, message_id=0)
    assert store.conversation(turn.conversation["id"])["urgent"] == 1


def test_a_plea_by_its_shape_counts_once_the_last_topic_is_old_but_not_within_it(store, engine):
    start = time.time() - 7200
    turn = turn_for(store, engine, text("工资被拖欠了两个月怎么办", at=start))
    apply(store, turn, faq.decide(turn), message_id=0)  # an answer, with a menu of next steps
    within = turn_for(store, engine, text("我在长沙路", at=start + 60))
    assert danger.decide(within) is None  # where the rider is, said about the wages
    later = turn_for(store, engine, text("我在长沙路", at=start + 3600))
    decided = danger.decide(later)  # an hour on, the same words alone are a plea
    assert decided is not None and decided.reply.intent == "emergency:plea" and "110" in decided.reply.text


def test_policies_that_do_not_apply_step_aside(store, engine):
    turn = turn_for(store, engine, text("送餐被罚款了怎么申诉"))
    assert danger.decide(turn) is None
    assert smalltalk.decide(turn) is None
    assert cases.status(turn) is None
    assert faq.decide(turn).reply.outcome == "answer"


def test_an_unanswerable_question_is_recorded_for_staff_only_when_applied(store, engine):
    turn = turn_for(store, engine, text("三角函数的导数公式是什么"))
    message_id = store.add_message(turn.conversation, "in", turn.now, kind="text", text=turn.inbound.text)
    decided = faq.decide(turn)
    assert decided.reply.outcome == "fallback"
    assert decided.changes.unanswered is not None and decided.changes.conversation["misses"] == 1
    assert store.unanswered() == []
    apply(store, turn, decided, message_id)
    assert [row["message_id"] for row in store.unanswered()] == [message_id]


def test_a_report_with_its_kind_starts_an_intake_that_asks_the_next_question(store, engine):
    turn = turn_for(store, engine, text("我要反映 站点拖欠工资"))
    decided = cases.report(turn)
    pending = decided.changes.conversation["pending"]
    assert pending["intake"]["answers"]["kind"] and pending["intake"]["step"] != "kind"
    assert decided.changes.privacy_noticed


SCRIPT = [
    dict(kind="event", event="subscribe"),
    dict(words="你好"),
    dict(words="送餐被罚款了怎么申诉"),
    dict(words="1"),
    dict(words="啊"),
    dict(words="三角函数的导数公式是什么"),
    dict(words="我要反映 站点拖欠工资"),
    dict(words="美团"),
    dict(kind="image", media_id="MEDIA_1"),
    dict(words="上海"),
    dict(words="上个月"),
    dict(words="站长说下个月再发，已经拖了两个月"),
    dict(words="13800138000"),
    dict(words="好了"),
    dict(words="查进度"),
    dict(words="转人工"),
    dict(words="有人在打我"),
    dict(words="结束人工"),
    dict(kind="event", event="unsubscribe"),
]


def test_deciding_writes_nothing_in_any_policy_and_apply_stores_it(store, engine):
    """Every policy is reached by this conversation; the database is unchanged by each decision
    (so it can be made outside the write transaction), and what was decided is stored after."""
    decide = engine.decide

    def checked(turn: Turn):
        with read_only(store):  # a write while deciding raises, and the test fails on it
            return decide(turn)

    engine.decide = checked
    start, outcomes = time.time(), []
    for n, step in enumerate(SCRIPT):
        fields = dict(step)  # SCRIPT stays as written for the next run
        words = fields.pop("words", "")
        reply = engine.handle(store, text(words, at=start + n, kind=fields.pop("kind", "text"), **fields))
        outcomes.append(reply.outcome if reply else None)
    assert {"welcome", "greeting", "answer", "chosen", "interjection", "fallback", "intake", "case_opened",
            "case_status", "handoff", "emergency", "back_to_bot"} <= set(outcomes)
    rider = store.touch_rider("wechat", "o_policy_rider", time.time())
    [case] = store.rider_cases(rider["id"])
    assert case["platform"] == "美团" and case["city"] == "上海"
    assert [e["media_id"] for e in store.evidence(case["id"])] == ["MEDIA_1"]
    assert not store.rider(rider["id"])["subscribed"]
