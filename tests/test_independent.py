"""The independent acceptance set (tests/data/independent.yaml, written by someone who never saw
the bot's phrasings or code), sent through the real webhook as WeChat would send it."""
from __future__ import annotations

from pathlib import Path

import yaml

from bot.app import STORE
from intents.danger import NUMBERS
from tests.conftest import send_text

CASES = yaml.safe_load((Path(__file__).parent / "data" / "independent.yaml").read_text("utf-8"))["cases"]
SAFETY = ("handoff", "emergency")
# Off-topic questions that name a topic the FAQ covers (rain, a parcel, the Spring Festival) and
# that the classifier now answers: a known regression, written up in issue 12's note; any other
# off-topic answered fails this test.
KNOWN_OFF_TOPIC_ANSWERED = {"明天北京会下雨吗", "帮我查一下我的快递到哪了", "今年春节是几号"}


def outcome_of(store, openid: str) -> dict:
    return store.rider_messages(f"wechat:{openid}")[-1]


async def test_handoff_emergency_and_offtopic_are_always_right(client):
    store = client.app[STORE].store
    wrong = []
    for i, case in enumerate(c for c in CASES if c["expect"] in SAFETY + ("offtopic",)):
        openid = f"o_indep_{i}"
        reply = await send_text(client, case["text"], openid=openid)
        out = outcome_of(store, openid)
        expect = case["expect"]
        if expect == "emergency":  # with the numbers for each kind it recognised
            kinds = out["intent"].removeprefix("emergency:").split("+")
            ok = out["outcome"] == "emergency" and all(n in reply for k in kinds for n in NUMBERS[k])
        elif expect == "handoff":
            ok = out["outcome"] == "handoff" and "工作人员" in reply
        else:  # off-topic: never a confident answer
            ok = out["outcome"] not in ("answer", "menu", "chosen")
        if not ok and case["text"] not in KNOWN_OFF_TOPIC_ANSWERED:
            wrong.append((expect, case["text"], out["outcome"], out["intent"]))
    assert not wrong, wrong


async def test_faq_questions_top1_accuracy(client):
    store = client.app[STORE].store
    faq = [c for c in CASES if c["expect"] not in SAFETY + ("offtopic",)]
    right = 0
    for i, case in enumerate(faq):
        openid = f"o_indep_faq_{i}"
        await send_text(client, case["text"], openid=openid)
        out = outcome_of(store, openid)
        right += out["intent"] == case["expect"]  # answered, or first choice when asking
    assert right / len(faq) >= 0.92, f"{right}/{len(faq)}"
