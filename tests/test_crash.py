"""kill -9 during a load of WeChat messages, restart on the same data: nothing that got a 200 is
lost, WeChat's retries are recognised after the restart, and the outbox resumes, each reply
delivered exactly once. The scenario lives in bench/crash.py, which runs it at a larger scale.

With two processes sharing the database (the same SQLite file, or PostgreSQL), one is killed
while the other keeps answering, and the retries reach the other one: the promises are the
same, across processes."""
from __future__ import annotations

import pytest

from bench.crash import run_crash


def assert_promises_kept(report, replies: int) -> None:
    print("\n".join(report.lines()))
    # The kill really landed mid-load: some messages were answered, some were not.
    assert report.answered_200 >= 120 and report.unanswered > 0, report.lines()
    assert report.lost == []
    assert report.doubled == []
    assert report.retries_not_recognised == [] and report.retries_reply_changed == []
    assert report.unanswered_stored_after_retry == report.unanswered
    assert report.replies_queued == replies and report.replies_delivered_once == replies
    assert report.replies_duplicated == [] and report.replies_out_of_order == []


async def test_kill_9_mid_load_loses_nothing_and_the_outbox_resumes(tmp_path):
    report = await run_crash(tmp_path, messages=240, riders=40, concurrency=24, kill_at=0.5,
                             waiting_riders=3, replies_each=3)
    assert_promises_kept(report, 9)


@pytest.mark.both_backends
async def test_two_processes_share_the_database_and_kill_9_of_one_loses_nothing(tmp_path, database_url):
    """Messages spread over two `gigdesk serve` processes; one is killed mid-load; the other
    goes on answering, recognises the killed one's messages when WeChat retries them there,
    and stores the unanswered ones once. Both outboxes run: each reply still arrives once."""
    report = await run_crash(tmp_path, messages=240, riders=40, concurrency=24, kill_at=0.5,
                             waiting_riders=3, replies_each=3, servers=2, database_url=database_url)
    assert_promises_kept(report, 9)
    assert report.answered_by_survivor > report.answered_200 / 4  # the other really took its share
