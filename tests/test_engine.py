"""The conversation engine's special paths, driven through the real webhook."""
from __future__ import annotations

import json

import pytest

from bot.app import ENGINE, STORE
from intents.matcher import Thresholds
from tests.conftest import send_text

pytestmark = pytest.mark.both_backends


def conversation(client, openid):
    store = client.app[STORE].store
    return store.open_conversation(f"wechat:{openid}", 0)


async def test_handoff_then_rider_returns_to_bot(client):
    reply = await send_text(client, "我要转人工", openid="o_h")
    assert "工作人员" in reply and "结束人工" in reply
    conv = conversation(client, "o_h")
    assert conv["state"] == "waiting" and conv["reason"] == "asked"
    # While waiting, what the bot is sure of is still answered, with word that a person will
    # reply; the rider stays in the queue. What it cannot answer gets the holding note.
    waiting = await send_text(client, "押金不给退怎么办", openid="o_h")
    assert "押金" in waiting and "依据" in waiting and "还在等工作人员" in waiting
    assert conversation(client, "o_h")["state"] == "waiting"
    held = await send_text(client, "今天晚上吃什么好", openid="o_h")
    assert "已转给工作人员" in held and "回答不了" not in held
    back = await send_text(client, "结束人工", openid="o_h")
    assert "回到自动回答" in back
    assert "押金" in await send_text(client, "押金不给退怎么办", openid="o_h")


async def test_once_a_caseworker_holds_the_conversation_the_bot_stays_out_of_it(client):
    await send_text(client, "转人工", openid="o_held")
    assert client.app[STORE].store.claim(conversation(client, "o_held")["id"], "li", 1.0)
    assert await send_text(client, "押金不给退怎么办", openid="o_held") == ""  # the caseworker answers


async def test_a_follow_up_after_an_emergency_is_answered_while_the_rider_waits(client):
    await send_text(client, "送件的时候被客户家的狗咬了 腿上破了在出血", openid="o_bite")
    assert conversation(client, "o_bite")["state"] == "waiting"
    reply = await send_text(client, "那我要留什么证据", openid="o_bite")
    assert "证据" in reply and "还在等工作人员" in reply


async def test_while_the_danger_may_go_on_every_reply_repeats_its_number_first(client):
    await send_text(client, "顾客在门口堵着我不让走 说要打我", openid="o_still")
    conv = conversation(client, "o_still")
    assert conv["state"] == "waiting" and conv["urgent"] == 1
    # The same danger going on, said without its words: 110 again, before anything else.
    for text in ("手机快没电了", "今天晚上吃什么好", "嗯"):
        reply = await send_text(client, text, openid="o_still")
        assert "110" in reply.split("\n")[0] and "危险还没过去" in reply, (text, reply)
    queued = await send_text(client, "快找个人", openid="o_still")
    assert "110" in queued.split("\n")[0] and "正在排队" in queued
    store = client.app[STORE].store
    intents = [m["intent"] for m in store.messages(conv["id"]) if m["direction"] == "out"]
    assert intents[2] == intents[3] == "emergency:violence"  # read as the danger, not as a question

    # A quarter of an hour later it is a waiting rider's ordinary message again.
    store.db.execute("UPDATE messages SET created_at = created_at - 1000 WHERE conversation_id = ?", [conv["id"]])
    later = await send_text(client, "今天晚上吃什么好", openid="o_still")
    assert "110" not in later and "危险还没过去" not in later


async def test_after_a_crash_a_question_is_answered_after_the_crash_numbers(client):
    await send_text(client, "被车撞了 腿在流血", openid="o_crash")
    reply = await send_text(client, "那我要留什么证据", openid="o_crash")
    first, rest = reply.split("\n", 1)
    assert "122、120" in first and "证据" in rest and "还在等工作人员" in rest


async def test_emergency_answers_hotlines_first_and_marks_urgent(client):
    reply = await send_text(client, "被车撞了 腿在流血", openid="o_e")
    assert reply.index("120") < 60 and "110" in reply and "122" in reply
    conv = conversation(client, "o_e")
    assert conv["urgent"] == 1 and conv["state"] == "waiting" and conv["reason"] == "urgent"


async def test_emergency_wins_even_while_waiting_for_a_person(client):
    await send_text(client, "转人工", openid="o_ew")
    reply = await send_text(client, "有人拿刀要砍我", openid="o_ew")
    assert "110" in reply
    assert conversation(client, "o_ew")["urgent"] == 1


@pytest.mark.parametrize("text, number", [
    ("bei ren gen le yi lu ta hai zai hou mian", "110"),  # typed in pinyin
    ("zhong shu le kuai yun le", "120"),
    ("有个痴线佬揸住支铁通追住我 我匿喺天桥底 点算啊", "110"),  # Cantonese
    ("前面一个小哥躺地上不动 车从他腿上压过去了", "120"),  # 压过去了 is not "it has passed"
    ("搿个小阿姨在灶披间里晕过去了 面孔煞白 叫伊勿应 哪能办啊", "120"),  # Shanghainese; 晕过去了 likewise
    ("雇主老公喝了酒一直推我房门 他在外面骂得很难听 说今晚非要进来", "110"),  # 难听说 is not 听说 (hearsay)
])
async def test_danger_typed_in_pinyin_or_dialect_gets_its_number_first(client, text, number):
    reply = await send_text(client, text, openid="o_typed")
    assert number in reply.split("\n")[0]
    assert conversation(client, "o_typed")["urgent"] == 1


@pytest.mark.parametrize("text", ["想死的心都有了 这个月又被扣了八百", "电瓶车电池怎么充才安全 听说会炸",
                                  "跑了一天腿都要断了 站长还催"])
async def test_figures_of_speech_and_hearsay_are_not_emergencies(client, text):
    await send_text(client, text, openid="o_figure")
    assert conversation(client, "o_figure")["urgent"] == 0


@pytest.mark.parametrize("text", ["让管事儿的来", "讲了半天冇用 找个负责的来", "帮我接通客服", "zhuan ren gong"])
async def test_a_person_asked_for_in_dialect_or_pinyin_is_queued(client, text):
    reply = await send_text(client, text, openid="o_person")
    assert conversation(client, "o_person")["state"] == "waiting", reply


async def test_greetings_and_thanks_get_short_replies(client):
    assert "有什么可以帮你" in await send_text(client, "你好！", openid="o_g")
    assert "不客气" in await send_text(client, "谢谢啦", openid="o_g")


@pytest.mark.parametrize("text", ["好滴", "好嘞😄", "收到啦", "晓得了", "好 多谢晒", "行 知道了 谢了兄弟", "嗯嗯 好的 谢谢哈"])
async def test_an_acknowledgement_after_an_answer_is_thanked_not_read_as_a_follow_up(client, text):
    await send_text(client, "高温补贴有多少", openid="o_ack")
    reply = await send_text(client, text, openid="o_ack")
    assert "不客气" in reply and "依据" not in reply


@pytest.mark.parametrize("text", ["好 那晒太阳中暑了算工伤吗", "行 谢了 那押金呢"])
async def test_an_acknowledgement_with_a_question_after_it_is_still_the_question(client, text):
    await send_text(client, "高温补贴有多少", openid="o_ack_q")
    reply = await send_text(client, text, openid="o_ack_q")
    assert "不客气" not in reply



@pytest.mark.parametrize("text", ["👍👍", "。。。。。。", "？？"])
async def test_a_message_without_words_gets_a_prompt_with_the_emergency_numbers(client, text):
    # A shrug, or someone who cannot type what is wrong: what the bot can do, and 110 / 120.
    reply = await send_text(client, text, openid="o_marks")
    assert "直接打字" in reply and "110" in reply and "120" in reply


async def test_off_topic_is_declined_and_two_misses_offer_a_person(client):
    first = await send_text(client, "今天晚上吃什么好", openid="o_m")
    assert "回答不了" in first and "受伤" in first  # honest, and says what it can help with
    second = await send_text(client, "推荐一部好看的电视剧", openid="o_m")
    assert "转人工" in second and "回答不了" not in second
    store = client.app[STORE].store
    texts = [row["text"] for row in store.unanswered()]
    assert "今天晚上吃什么好" in texts and "推荐一部好看的电视剧" in texts
    # an answer resets the count
    await send_text(client, "押金不给退怎么办", openid="o_m")
    assert "回答不了" in await send_text(client, "今天晚上吃什么好", openid="o_m")


async def test_clarify_offers_numbered_choices_and_the_number_answers(client):
    engine = client.app[ENGINE]
    engine.thresholds = Thresholds(answer=101, margin=0, clarify=0, agreed=101)  # every match is unsure
    reply = await send_text(client, "押金不给退怎么办", openid="o_c")
    assert "1." in reply and "2." in reply and "回复数字" in reply
    choices = json.loads(conversation(client, "o_c")["pending"])["choices"]
    chosen = engine.brain.kb.entry(choices[1])
    answer = await send_text(client, "2", openid="o_c")
    assert chosen.sources[0].cite() in answer
    # the choice is used once: a later "2" is not an answer any more
    assert chosen.sources[0].cite() not in await send_text(client, "2", openid="o_c")


async def test_disclaimer_once_per_conversation(client):
    first = await send_text(client, "押金不给退怎么办", openid="o_d")
    second = await send_text(client, "工资被拖欠怎么办", openid="o_d")
    assert "不是法律意见" in first and "不是法律意见" not in second


async def test_traditional_and_full_width_input_answered_like_simplified(client):
    simplified = await send_text(client, "押金不给退怎么办", openid="o_t1")
    traditional = await send_text(client, "押金不給退怎麼辦？！", openid="o_t2")
    assert simplified == traditional


async def test_needs_human_entry_offers_a_person(client):
    kb = client.app[ENGINE].brain.kb
    entry = next(e for e in kb.entries if e.needs_human)
    reply = await send_text(client, entry.examples[0], openid="o_nh")
    assert "转人工" in reply


async def test_emergency_keeps_an_assigned_caseworker(client):
    await send_text(client, "转人工", openid="o_as")
    store = client.app[STORE].store
    conv = conversation(client, "o_as")
    store.update_conversation(conv["id"], 0, state="assigned", assigned_to="li")
    assert "120" in await send_text(client, "我晕倒了", openid="o_as")
    after = conversation(client, "o_as")
    assert (after["state"], after["assigned_to"], after["urgent"]) == ("assigned", "li", 1)
