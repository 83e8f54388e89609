"""kill -9 during a load of WeChat messages, restart on the same data: nothing that got a 200 is
lost, WeChat's retries are recognised after the restart, and the outbox resumes, each reply
delivered exactly once. The scenario lives in bench/crash.py, which runs it at a larger scale."""
from __future__ import annotations

from bench.crash import run_crash


async def test_kill_9_mid_load_loses_nothing_and_the_outbox_resumes(tmp_path):
    report = await run_crash(tmp_path, messages=240, riders=40, concurrency=24, kill_at=0.5,
                             waiting_riders=3, replies_each=3)
    print("\n".join(report.lines()))
    # The kill really landed mid-load: some messages were answered, some were not.
    assert report.answered_200 >= 120 and report.unanswered > 0, report.lines()
    assert report.lost == []
    assert report.doubled == []
    assert report.retries_not_recognised == [] and report.retries_reply_changed == []
    assert report.unanswered_stored_after_retry == report.unanswered
    assert report.replies_queued == 9 and report.replies_delivered_once == 9
    assert report.replies_duplicated == [] and report.replies_out_of_order == []
