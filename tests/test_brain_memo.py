"""The Brain remembers what it read of a text (bot/brain.py Memo): a repeated text gets what
reading it afresh gives, the memo stays within its size, and a reload starts a new one."""
from __future__ import annotations

import threading

import pytest

from bot.app import load_or_fail
from bot.brain import Memo, build_brain
from bot.settings import KNOWLEDGE_DIR
from knowledge.evaluate import load_questions
from tests.conftest import DATA


@pytest.fixture(scope="module")
def brain():
    return build_brain(load_or_fail(KNOWLEDGE_DIR), memo_size=100_000)


def test_a_remembered_reading_is_what_reading_afresh_gives(brain):
    texts = [q.text for q in load_questions(DATA / "heldout.yaml")][:200]
    for _ in range(2):  # the second time round, every answer comes from the memo
        for text in texts:
            reading = brain._read(text)
            assert brain.read(text) == reading
            assert brain.rank(text) == brain._rank(reading, 5, 0.0)
            assert brain.rank(reading, limit=3, off_topic_floor=0.5) == brain._rank(reading, 3, 0.5)
            assert brain.danger_in(text) == brain._danger_in(reading)
            assert brain.asks_for_a_person(text) == (brain.handoff.found_in(reading.cleaned)
                                                     or brain.handoff_rules.first(reading.cleaned))
    assert brain.memo.hits > len(texts)


def test_a_caller_changing_its_candidates_does_not_change_the_memo(brain):
    first = brain.rank("押金不给退怎么办")
    first.clear()
    assert brain.rank("押金不给退怎么办")


def test_the_memo_keeps_at_most_its_size_and_forgets_the_oldest():
    memo = Memo(2)
    memo.get("a", lambda: 1), memo.get("b", lambda: 2), memo.get("a", lambda: 0), memo.get("c", lambda: 3)
    assert len(memo._items) == 2
    assert memo.get("b", lambda: "again") == 2 and memo.get("c", lambda: "again") == 3
    assert memo.get("a", lambda: "again") == "again"  # the oldest: forgotten
    off = Memo(0)
    assert off.get("x", lambda: 1) == 1 and off.get("x", lambda: 2) == 2  # 0: off


def test_threads_sharing_a_memo_get_one_value_per_key():
    memo, seen = Memo(50), [[] for _ in range(4)]

    def work(into: list):
        into.extend(memo.get(n % 70, lambda n=n: n % 70) for n in range(5000))

    threads = [threading.Thread(target=work, args=(into,)) for into in seen]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(got == [n % 70 for n in range(5000)] for got in seen)
