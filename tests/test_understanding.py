"""Understanding riders in their own words, through the real /wechat webhook: danger by kind,
asking for a person in other words, follow-ups within the conversation's topic, replies that
read well for off-topic messages, and an intake that understands words. The blind sets in
tests/data/understanding/ are regression gates."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.app import ENGINE, STORE
from intents import Candidate, decide
from knowledge.loader import load_knowledge
from intents.normalise import clean
from knowledge.understanding import measure
from tests.conftest import send_text

KNOWLEDGE = Path(__file__).parent.parent / "knowledge"
SETS = Path(__file__).parent / "data" / "understanding"


def last_out(client, openid: str) -> dict:
    return client.app[STORE].store.rider_messages(f"wechat:{openid}")[-1]


async def intents_after(client, openid: str, *texts: str) -> list[str]:
    """What the bot understood at each of one rider's messages, in turn."""
    understood = []
    for text in texts:
        await send_text(client, text, openid=openid)
        understood.append(last_out(client, openid)["intent"])
    return understood


@pytest.mark.parametrize("text, numbers, absent", [
    ("那个男的一直跟着我 现在把我堵在楼道里", ["110"], ["12356"]),
    ("充电柜那边冒黑烟了 火苗往上蹿", ["119"], []),
    ("站在楼顶 吹吹风 以后不用再跑单了 对不起我妈", ["12356", "120"], []),
    ("刚让渣土车别倒了 人趴在马路上", ["122", "120"], ["12356"]),
    ("同事在车棚那倒下了 叫他没反应", ["120"], ["12356"]),
    ("电梯卡在两层中间了 一直往下掉", ["119"], []),
])
async def test_danger_gets_the_number_for_its_kind(client, text, numbers, absent):
    reply = await send_text(client, text, openid="o_danger")
    assert last_out(client, "o_danger")["outcome"] == "emergency"
    assert all(n in reply for n in numbers), reply
    assert not any(n in reply for n in absent), reply  # no suicide line for a crash
    conversation = client.app[STORE].store.open_conversation("wechat:o_danger", 0)
    assert conversation["urgent"] == 1 and conversation["state"] == "waiting"


async def test_a_past_accident_asked_about_is_not_an_emergency(client):
    await send_text(client, "上个月送餐被车撞了 现在好了 还能找平台要赔偿吗", openid="o_past")
    assert last_out(client, "o_past")["outcome"] != "emergency"


@pytest.mark.parametrize("text", ["让真人回我", "找工会的人帮我处理一下", "机器人别回了 叫个人来",
                                  "能不能让律师跟我聊聊", "zrg", "rengong", "能安排法律顾问跟我通个电话吗",
                                  "客服在不在", "贼费劲 整不明白 给我整个人工", "有没有客服能语音的 打字太慢了 我在开车",
                                  "能人工回复吗 急", "停 别发了 人工", "想找个老师一对一问问",
                                  "能不能约个时间电话沟通一下", "电话留了 麻烦打过来",
                                  "麻烦帮我转一下工作人员 我这事比较复杂 几句话说不清",
                                  "能请个真的老师帮我看下合同吗", "给我回个电话行吗 晚上都在",
                                  "可以人工吗 human please", "别发这些了 我要问人", "莫得人工嗦"])
async def test_asking_for_a_person_in_other_words(client, text):
    reply = await send_text(client, text, openid="o_person")
    assert last_out(client, "o_person")["outcome"] == "handoff" and "工作人员" in reply


async def test_a_question_saying_typing_is_slow_is_still_answered(client):
    await send_text(client, "公会有没有电话可以打 直接打电话问比较快 打字太慢了", openid="o_slow")
    assert last_out(client, "o_slow")["outcome"] == "answer"


async def test_a_follow_up_is_read_within_the_topic_and_a_new_topic_wins(client):
    rider = "o_follow"
    await send_text(client, "送单的时候被狗咬了 接下来咋办", openid=rider)  # an injury, never named as one
    assert last_out(client, rider)["intent"] == "injury-what-to-do"
    await send_text(client, "那要准备什么材料", openid=rider)
    assert last_out(client, rider)["intent"] == "injury-evidence"
    await send_text(client, "平台不管呢", openid=rider)
    assert last_out(client, rider)["intent"] == "injury-platform-refuses"
    await send_text(client, "饿了么账号被封了怎么办", openid=rider)
    assert last_out(client, rider)["intent"] == "account-deactivated"


async def test_the_same_follow_up_means_what_the_topic_so_far_makes_it_mean(client):
    await send_text(client, "怎么申请劳动仲裁", openid="o_arb")
    await send_text(client, "要准备什么材料", openid="o_arb")
    assert last_out(client, "o_arb")["intent"] == "arbitration-how"  # not the injury evidence list
    await send_text(client, "站长拖欠工资三个月了", openid="o_cost")
    await send_text(client, "要钱吗", openid="o_cost")
    assert last_out(client, "o_cost")["intent"] == "arbitration-cost"
    await send_text(client, "要钱吗", openid="o_cost_alone")  # with no topic it is not answered outright
    assert last_out(client, "o_cost_alone")["outcome"] != "answer"


async def test_an_answer_offers_its_next_steps_as_numbers(client):
    rider = "o_steps"
    reply = await send_text(client, "怎么申请劳动仲裁", openid=rider)
    assert "接着可以问" in reply and "1. 劳动仲裁时效多久" in reply
    await send_text(client, "1", openid=rider)
    assert last_out(client, rider)["intent"] == "arbitration-time-limit"


async def test_off_topic_gets_no_topic_menu_and_an_interjection_a_short_prompt(client):
    reply = await send_text(client, "帮我点份黄焖鸡米饭", openid="o_off")
    assert last_out(client, "o_off")["outcome"] == "fallback" and "回复数字" not in reply
    reply = await send_text(client, "啊", openid="o_off2")
    assert last_out(client, "o_off2")["outcome"] == "interjection" and "转人工" in reply


async def test_a_platform_named_alone_is_a_follow_up_within_a_conversation(client):
    await send_text(client, "美团", openid="o_platform_alone")  # nothing to follow: a prompt
    assert last_out(client, "o_platform_alone")["outcome"] == "interjection"
    rider = "o_platform_follow"
    await send_text(client, "站长罚了我两百 说我超时", openid=rider)
    assert last_out(client, rider)["intent"] == "fine-appeal"
    await send_text(client, "美团", openid=rider)  # which platform: still the same question
    assert last_out(client, rider)["outcome"] == "followup" and last_out(client, rider)["intent"] == "fine-appeal"


async def test_thanks_after_a_word_of_acknowledgement_ends_the_topic_politely(client):
    rider = "o_thanks_after"
    await send_text(client, "高温补贴有吗", openid=rider)
    reply = await send_text(client, "行吧 谢了", openid=rider)
    assert last_out(client, rider)["outcome"] == "thanks" and "高温" not in reply
    await send_text(client, "拖欠工资谢谢", openid="o_thanks_question")  # a question, thanked in advance
    assert last_out(client, "o_thanks_question")["intent"] == "pay-withheld"


async def test_a_time_limit_passed_is_asked_within_the_time_limit_topic(client):
    rider = "o_passed"
    await send_text(client, "劳动仲裁有时间限制吗 多久之内要申请", openid=rider)
    await send_text(client, "那超了咋办 就没办法了？", openid=rider)
    assert last_out(client, rider)["intent"] == "arbitration-time-limit"


@pytest.mark.parametrize("text", ["附近哪有好吃的米粉", "后天天气咋样", "帮我查个快递单号到哪了", "去汽车站怎么走",
                                  "你属啥的", "明天会不会下雨啊"])  # 下雨 is a topic word; the classifier is sure all the same
async def test_off_topic_is_a_class_the_classifier_learns(client, text):
    # None of these is in offtopic.yaml; before it, each got a menu or a yes/no question.
    assert text not in client.app[ENGINE].brain.kb.offtopic
    reply = await send_text(client, text, openid="o_offclass")
    assert last_out(client, "o_offclass")["outcome"] == "fallback" and "回复数字" not in reply and "吗？" not in reply


async def test_a_message_naming_a_topic_is_not_taken_for_off_topic(client):
    await send_text(client, "附近有没有工会驿站 想喝口水歇一下", openid="o_rest")
    assert last_out(client, "o_rest")["intent"] == "station-find"


def test_kb_check_refuses_an_off_topic_example_that_is_also_a_phrasing(tmp_path):
    kb, problems = load_edited(tmp_path, "offtopic.yaml", "examples:\n", "examples:\n  - \"工资被拖欠了怎么办\"\n")
    assert kb is None and any("工资被拖欠了怎么办" in str(p) and "pay-withheld" in str(p) for p in problems)


def test_one_plausible_entry_is_a_yes_no_question_not_a_menu_of_one():
    lone = [Candidate("a", 30, ""), Candidate("b", 10, "")]
    assert decide(lone).kind == "confirm"
    assert decide([Candidate("a", 35, ""), Candidate("b", 12, "")], names_a_topic=False).kind == "confirm"
    assert decide([Candidate("a", 20, "")], names_a_topic=False).kind == "fallback"


def test_an_entry_both_readings_put_first_is_answered_as_a_guess():
    agreed = decide([Candidate("a", 32, "", agreed=True), Candidate("b", 21, "")])
    assert agreed.kind == "answer" and agreed.guess
    assert decide([Candidate("a", 32, "", agreed=True)], names_a_topic=False).guess
    assert decide([Candidate("a", 32, ""), Candidate("b", 25, "")]).kind == "clarify"  # no agreement
    assert decide([Candidate("a", 28, "", agreed=True), Candidate("b", 10, "")]).kind == "confirm"  # too weak
    assert decide([Candidate("a", 32, "", agreed=True), Candidate("b", 25, "")]).kind == "clarify"  # too close
    assert not decide([Candidate("a", 60, "", agreed=True), Candidate("b", 20, "")]).guess  # simply sure


def test_the_ranking_marks_the_entry_both_readings_put_first():
    from bot.brain import build_brain
    kb, _ = load_knowledge(KNOWLEDGE)
    ranked = build_brain(kb).rank("工资被拖欠了怎么办")
    assert ranked[0].agreed and ranked[0].entry_id == "pay-withheld"
    assert not any(c.agreed for c in ranked[1:])


async def test_a_guess_says_first_what_it_understood(client, monkeypatch):
    brain = client.app[ENGINE].brain
    guessed = [Candidate("pay-deposit", 32, "", agreed=True), Candidate("pay-withheld", 21, "")]
    real_rank = type(brain).rank
    monkeypatch.setattr(type(brain), "rank", lambda self, text, limit=5, off_topic_floor=0.0:
                        guessed if getattr(text, "text", text) == "押金的事" else real_rank(self, text, limit, off_topic_floor))
    reply = await send_text(client, "押金的事", openid="o_guess")
    assert last_out(client, "o_guess")["outcome"] == "answer"
    assert reply.startswith("你问的应该是“押金、装备费不退怎么办”") and "转人工" in reply.splitlines()[0]
    await send_text(client, "工资被拖欠了怎么办", openid="o_sure")  # sure: no guess line
    assert "你问的应该是" not in last_out(client, "o_sure")["text"]


async def test_confirm_then_yes_answers(client, monkeypatch):
    from bot.app import ENGINE
    brain = client.app[ENGINE].brain
    monkeypatch.setattr(type(brain), "rank", lambda self, text, limit=5, off_topic_floor=0.0: [Candidate("pay-deposit", 30, ""),
                                                                          Candidate("pay-withheld", 5, "")])
    reply = await send_text(client, "押金的事", openid="o_yes")
    assert "押金、装备费不退怎么办" in reply and "回复“是”" in reply
    await send_text(client, "是的", openid="o_yes")
    assert last_out(client, "o_yes")["intent"] == "pay-deposit"


async def test_intake_takes_the_kind_in_words_and_from_the_first_message(client):
    rider = "o_intake_words"
    first = await send_text(client, "我要反映 美团站点拖欠工资", openid=rider)
    assert "已经记下" in first and "工资" in first and "美团" in first
    assert "回复数字" not in first  # the kind is not asked again, nor the platform
    assert "城市" in first
    rider = "o_intake_kind"
    await send_text(client, "我要登记", openid=rider)
    second = await send_text(client, "欠薪", openid=rider)
    assert "没看懂" not in second and "哪个平台" in second


def load_edited(tmp_path, file: str, old: str, new: str):
    """The knowledge folder with one replacement in one file, loaded as kb check loads it."""
    folder = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE, folder)
    path = folder / file
    text = path.read_text("utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), "utf-8")
    return load_knowledge(folder)


def test_kb_check_refuses_a_danger_reply_without_its_number(tmp_path):
    kb, problems = load_edited(tmp_path, "messages.yaml", "打 119", "打电话")
    assert kb is None and any("emergency_fire" in str(p) and "119" in str(p) for p in problems)


def test_kb_check_refuses_an_ignored_phrase_that_hides_a_danger_word(tmp_path):
    # 火了 ("became popular") once sat in the ignore list and masked 着火了 in 仓库着火了.
    kb, problems = load_edited(tmp_path, "danger.yaml", "ignore: [", "ignore: [火了, ")
    assert kb is None and any("火了" in str(p) and "着火" in str(p) for p in problems)


@pytest.mark.parametrize("text", ["好了", "再见", "发完了", "跳过", "好的谢谢"])
async def test_short_everyday_replies_are_not_danger(client, text):
    # 好了 answers the intake's last question; the learned model once took it for a farewell.
    await send_text(client, text, openid="o_short")
    assert last_out(client, "o_short")["outcome"] != "emergency"


@pytest.mark.parametrize("text, number", [
    ("烟!!", "119"), ("火 火 宿舍", "119"),  # a shout of one word is the whole message
    ("急!!!!!!", "110"), ("你们快", "110"), ("嗯 快 救", "110"),
    ("反正这个世界少我一个也没啥", "12356"),
    ("我的押金五百 以后我要是不在了 能退给我闺女吗", "12356"),  # a topic named, but arranging for after death
    ("我被两个人按在地上 手机差点被抢走 他们还不让我起来", "110"),  # 差点 is not "it is over"
    ("撞了", "122"), ("赶紧赶紧赶紧", "110"),
    ("人死了 欠的网贷还要家里人还吗", "12356"), ("这座桥离水面有多高啊", "12356"),  # death asked as a question
])
async def test_danger_in_a_word_or_a_farewell_is_an_emergency(client, text, number):
    reply = await send_text(client, text, openid="o_word")
    assert last_out(client, "o_word")["outcome"] == "emergency" and number in reply, reply


@pytest.mark.parametrize("text", ["烧烤摊的火太旺了 羊肉串都糊了", "这单子火急火燎的 催命一样",
                                  "卡在审核这步好几天了 注册不了 急", "给120急救中心送餐 电梯在哪边"])
async def test_the_same_words_inside_an_everyday_message_are_not_danger(client, text):
    await send_text(client, text, openid="o_same")
    assert last_out(client, "o_same")["outcome"] != "emergency"


async def test_a_fire_with_people_inside_is_an_emergency(client):
    reply = await send_text(client, "仓库着火了 我们还在里面", openid="o_fire")
    assert last_out(client, "o_fire")["outcome"] == "emergency" and "119" in reply


def test_kb_check_refuses_a_follow_up_to_an_unknown_entry(tmp_path):
    kb, problems = load_edited(tmp_path, "faq/disputes.yaml", "期限: arbitration-time-limit", "期限: no-such-entry")
    assert kb is None and any("no-such-entry" in str(p) for p in problems)


# --- the blind sets as regression gates --------------------------------------------------
# Floors just under what the frozen method measures, so a change that makes the bot understand
# riders worse fails here. All three are development sets (README, "How well it understands"):
# dev was tuned on; dev2 and dev3 were test sets, each measured once, then tuned on, their
# questions added to the FAQ as phrasings and their danger messages to danger_examples.yaml.
# The figures that count are those of the test set measured once after them.
GATES = {
    # Floors just under today's figures (2026-12-02, after answering on the readings' agreement
    # and tuning on development set 5), so a change that loses riders fails; wrong and
    # false_alarms are ceilings at today's counts.
    "dev": {"danger": 1.0, "handoff": 1.0, "answered": 0.96, "first": 0.97, "wrong": 1, "offtopic": 1.0,
             "follow_ups": 0.91, "false_alarms": 0},
    "dev2": {"danger": 1.0, "handoff": 1.0, "answered": 0.99, "first": 0.99, "wrong": 0, "offtopic": 1.0,
             "follow_ups": 0.9, "false_alarms": 1},
    "dev3": {"danger": 1.0, "handoff": 1.0, "answered": 0.99, "first": 0.99, "wrong": 0, "offtopic": 1.0,
             "follow_ups": 0.93, "false_alarms": 0},
    # dev4: written blind on 2026-12-01, tuned on (phrasings, danger examples, answers while
    # waiting). Before tuning: danger 97.5%, answered 82.5%, first 91.0%, follow-ups 54.1%.
    "dev4": {"danger": 1.0, "handoff": 1.0, "answered": 0.98, "first": 0.98, "wrong": 0, "offtopic": 1.0,
             "follow_ups": 0.85, "false_alarms": 12},
    # dev5: written blind on 2026-12-02 to tune on (indirect self-harm, asking for a person, questions
    # without legal words). Before tuning: danger 90.8%, handoff 81.7%, answered 85.6%, follow-ups 84.4%.
    "dev5": {"danger": 1.0, "handoff": 0.98, "answered": 0.95, "first": 0.97, "wrong": 1, "offtopic": 1.0,
             "follow_ups": 0.85, "false_alarms": 4},
    # Test set 3, measured once at f04e93f: danger 94.3% (93.3% after the fix for short messages),
    # handoff 91.7%, first 96.2%, no wrong answer, off-topic 86.0%, follow-ups 51.8%. Looked at
    # since, not tuned on.
    "test": {"danger": 1.0, "handoff": 1.0, "answered": 0.96, "first": 0.97, "wrong": 0, "offtopic": 1.0,
             "follow_ups": 0.85, "false_alarms": 3},
    # Test set 4, measured once at 7c9a91d: danger 96.4%, handoff 86.0%, first 93.9%, one wrong
    # answer, off-topic 94.0%, follow-ups 63.6%. Tuned on since (follow-ups, handoff, danger).
    "test4": {"danger": 1.0, "handoff": 1.0, "answered": 0.93, "first": 0.95, "wrong": 2, "offtopic": 1.0,
             "follow_ups": 0.83, "false_alarms": 7},
    # Test set 5, measured once at 7ab4813: danger 96.0%, handoff 82.1%, first 95.4%, two wrong
    # answers, off-topic 89.3%, follow-ups 78.9%. Tuned on since (handoff, danger, off-topic).
    "test5": {"danger": 1.0, "handoff": 1.0, "answered": 0.93, "first": 0.96, "wrong": 1, "offtopic": 0.98,
             "follow_ups": 0.82, "false_alarms": 8},
    # Test set 6, measured once at 060a882: danger 96.0%, handoff 96.4%, first 95.8%, no wrong
    # answer, off-topic 87.5%, follow-ups 77.1%. Since tuned on (danger wordings, urgent pleas).
    "test6": {"danger": 1.0, "handoff": 1.0, "answered": 0.91, "first": 0.95, "wrong": 0, "offtopic": 0.94,
             "follow_ups": 0.82, "false_alarms": 15},
    # Test set 7, measured once at 98a3461: danger 93.3%, handoff 94.6%, first 97.1%, no wrong
    # answer, off-topic 98.2%, follow-ups 83.3%. Since tuned on (pinyin, dialect, new subjects,
    # the answer threshold).
    "test7": {"danger": 1.0, "handoff": 1.0, "answered": 0.96, "first": 0.97, "wrong": 0, "offtopic": 1.0,
             "follow_ups": 0.9, "false_alarms": 11},
    # Test set 8, measured once at 5d6cb58 (the figures the README quotes): danger 97.8%, handoff
    # 94.6%, first 95.8%, one wrong answer, off-topic 98.2%, follow-ups 85.4%. Since tuned on
    # (danger wordings, Shanghainese, figures of speech).
    "test8": {"danger": 0.99, "handoff": 1.0, "answered": 0.94, "first": 0.97, "wrong": 0, "offtopic": 0.98,
             "follow_ups": 0.83, "false_alarms": 13},
    # Test set 9, measured once at 360cb2d: danger 99.6%, handoff 92.9%, first 94.2%, two wrong
    # answers, off-topic 98.2%, follow-ups 90.2%. Since tuned on (handoff wordings, Cantonese
    # 人工 for wages, figures of speech); a follow-up on the edge of the threshold went the other way.
    # answered 0.94 since 2026-12-02: one question (老妈住院要做手术…) now gets a yes/no with the
    # right entry first, after phrasings for other entries moved the classifier.
    "test9": {"danger": 1.0, "handoff": 0.98, "answered": 0.94, "first": 0.97, "wrong": 1, "offtopic": 1.0,
             "follow_ups": 0.91, "false_alarms": 12},
    # Test set 10, measured once at d6d7426 (the figures the README quotes): danger 97.3%, handoff
    # 92.9%, first 92.6%, one wrong answer, off-topic 87.5%, follow-ups 78.2%, 16 false alarms.
    # Since tuned on (danger in English and fragments, video calls, handoff wordings, 菜鸟驿站).
    "test10": {"danger": 1.0, "handoff": 1.0, "answered": 0.89, "first": 0.92, "wrong": 1, "offtopic": 0.91,
             "follow_ups": 0.8, "false_alarms": 16},
    # Test set 11, measured once at b5a44c7 (the figures the README quotes): danger 98.7%, handoff
    # 92.9%, first 88.1%, 11 wrong answers, off-topic 91.1%, follow-ups 80.0%, 27 false alarms.
    # Since tuned on (its missed self-harm, plea and handoff wordings, voice-input homophones).
    "test11": {"danger": 0.99, "handoff": 1.0, "answered": 0.85, "first": 0.91, "wrong": 9, "offtopic": 0.91,
             "follow_ups": 0.82, "false_alarms": 24},
    # Test set 12, measured once at 2ef48c9 (before this round's changes): danger 96.4%, handoff
    # 89.3%, answered 65.4%, first 81.1%, 11 wrong, off-topic 91.1%, follow-ups 79.6%, 34 false
    # alarms; and once at 6f66b30 (the round's method, frozen): danger 96.9%, handoff 92.9%,
    # answered 75.3%, first 84.6%, 11 wrong, off-topic 92.9%, follow-ups 80.3%, 36 false alarms.
    # Since tuned on (its missed danger and handoff wordings, everyday words for topics).
    "test12": {"danger": 1.0, "handoff": 1.0, "answered": 0.76, "first": 0.86, "wrong": 11, "offtopic": 0.92,
             "follow_ups": 0.8, "false_alarms": 36},
    # Test set 13, measured once at eec3bba (method frozen since 2d8effe): danger 94.6%, handoff
    # 92.9%, answered 81.4%, first 88.8%, 16 wrong, off-topic 92.9%, follow-ups 75.5%, 28 false
    # alarms. Since tuned on (its missed danger and handoff wordings).
    "test13": {"danger": 1.0, "handoff": 1.0, "answered": 0.82, "first": 0.9, "wrong": 11, "offtopic": 0.92,
             "follow_ups": 0.76, "false_alarms": 28},
    # Test set 14, measured once at 33aaf53 (the figures the README quotes): danger 92.0%, handoff
    # 92.9%, answered 80.4%, first 87.8%, 9 wrong, off-topic 92.9%, follow-ups 78.5%, 35 false
    # alarms. Since tuned on (its missed danger and handoff wordings, recurring wrong answers).
    "test14": {"danger": 0.97, "handoff": 0.98, "answered": 0.81, "first": 0.88, "wrong": 6, "offtopic": 0.92,
             "follow_ups": 0.79, "false_alarms": 35},
    # Test set 15, measured once at f0f2774: danger 91.5%, handoff 92.9%, answered 77.6%, first
    # 82.7%, 14 wrong, off-topic 89.3%, follow-ups 69.6%, 25 false alarms. Since tuned on (pleas by
    # their shape, stated facts and short replies in conversations, its missed wordings); the
    # gate is today's figures rounded down.
    "test15": {"danger": 0.99, "handoff": 1.0, "answered": 0.8, "first": 0.85, "wrong": 14, "offtopic": 0.89,
             "follow_ups": 0.8, "false_alarms": 19},
    # Test set 16, measured once at 403d88a: danger 95.1%, handoff 91.1%, answered 80.1%, first
    # 88.8%, 11 wrong, off-topic 96.4%, follow-ups 80.3%, 28 false alarms. Since tuned on (its
    # missed pleas, danger and handoff wordings, short replies); the gate is today's figures.
    # 30 false alarms since 2026-12-03: the learned model scores 我在桥上等单 … 风景还不错 at
    # its threshold (0.60) since the lexicon's new acknowledgements (calm examples for it) moved it.
    "test16": {"danger": 0.98, "handoff": 1.0, "answered": 0.8, "first": 0.88, "wrong": 11, "offtopic": 0.96,
             "follow_ups": 0.81, "false_alarms": 30},
    # Test set 17, measured once at 7c79b57: danger 92.0%, handoff 94.6%, answered 80.8%, first
    # 89.1%, 4 wrong, off-topic 91.1%, follow-ups 85.2%, 34 false alarms. Since tuned on (its
    # missed self-harm, pleas, English words): gated at the tuned figures.
    "test17": {"danger": 0.98, "handoff": 1.0, "answered": 0.83, "first": 0.92, "wrong": 0, "offtopic": 1.0,
               "follow_ups": 0.85, "false_alarms": 10},
    # Test set 18, measured once at 7a3c3eb: danger 92.4%, handoff 91.1%, answered 76.0%, first
    # 85.9%, 9 wrong, off-topic 94.6%, follow-ups 79.9%, 37 false alarms. Since tuned on.
    "test18": {"danger": 0.99, "handoff": 1.0, "answered": 0.77, "first": 0.89, "wrong": 9, "offtopic": 0.98,
               "follow_ups": 0.79, "false_alarms": 19},
    # Test set 19, measured once at e4a60db: danger 92.4%, handoff 98.2%, answered 77.9%, first
    # 85.3%, 14 wrong, off-topic 94.6%, follow-ups 72.7%, 25 false alarms. Since tuned on
    # (2026-12-03: self-harm as losses then giving up, pleas as a name or call-me-now,
    # acknowledgements): a development set now, gated at the tuned figures.
    "test19": {"danger": 0.98, "handoff": 0.98, "answered": 0.77, "first": 0.85, "wrong": 14, "offtopic": 0.94,
               "follow_ups": 0.74, "false_alarms": 26},
    # Test set 20, measured once at b68ed81: danger 92.4%, handoff 92.9%, answered 87.8%, first
    # 92.9%, 3 wrong, off-topic 98.2%, follow-ups 75.7%, 21 false alarms. Since tuned on
    # (2026-12-04: pleas as a place or half-typed pinyin, self-harm as a height or a payout,
    # kinds told apart, handoff wordings, acknowledgements): gated at the tuned figures.
    "test20": {"danger": 1.0, "handoff": 1.0, "answered": 0.88, "first": 0.94, "wrong": 3, "offtopic": 0.98,
               "follow_ups": 0.77, "false_alarms": 21},
    # Test set 21, measured once at cf2dc3f: danger 96.4%, handoff 98.2%, answered 84.0%, first
    # 93.6%, 7 wrong, off-topic 100%, follow-ups 78.9%, 20 false alarms. Since tuned on (its
    # missed danger and handoff wordings): gated at the tuned figures.
    "test21": {"danger": 1.0, "handoff": 1.0, "answered": 0.83, "first": 0.93, "wrong": 7, "offtopic": 1.0,
               "follow_ups": 0.80, "false_alarms": 20},
    # Test set 22, measured once at e95b961: danger 95.5%, handoff 100%, answered 79.2%, first
    # 87.5%, 8 wrong, off-topic 96.4%, follow-ups 79.1%, 32 false alarms. Since tuned on (its
    # missed danger): gated at the tuned figures.
    "test22": {"danger": 0.98, "handoff": 1.0, "answered": 0.79, "first": 0.87, "wrong": 8, "offtopic": 0.96,
               "follow_ups": 0.79, "false_alarms": 32},
    # Test set 23, measured once at 7d3cda5 (the figures the README quotes), not tuned on: danger
    # 96.0%, handoff 98.2%, answered 82.4%, first 90.7%, 3 wrong, off-topic 96.4%, follow-ups
    # 81.4%, 22 false alarms.
    "test23": {"danger": 0.95, "handoff": 0.98, "answered": 0.82, "first": 0.90, "wrong": 3, "offtopic": 0.96,
               "follow_ups": 0.81, "false_alarms": 22},
}


@pytest.mark.parametrize("name", sorted(GATES))
def test_blind_set_figures_hold(name):
    report, gate = measure(KNOWLEDGE, SETS / name), GATES[name]
    share = lambda tally: tally.right / tally.total  # noqa: E731
    assert share(report.danger_all) >= gate["danger"], report.danger_all
    assert share(report.handoff) >= gate["handoff"], report.handoff
    assert share(report.answered) >= gate["answered"], report.answered
    assert share(report.first) >= gate["first"], report.first
    assert len(report.wrong_answers) <= gate["wrong"], report.wrong_answers
    assert share(report.offtopic) >= gate["offtopic"], report.offtopic
    assert share(report.follow_ups) >= gate["follow_ups"], report.follow_ups
    # Look-alikes (累死了, a crash last month, a bulging battery) taken for danger: a ceiling.
    assert len(report.false_alarms) <= gate["false_alarms"], report.false_alarms


def test_eval_lists_danger_replies_that_lack_the_kind_s_number(tmp_path):
    # Found as danger but as another kind: the rider is not given the number they need.
    (tmp_path / "danger.yaml").write_text(
        "danger:\n- text: 有人拿刀追我\n  kind: violence\n- text: 有人拿刀追我\n  kind: fire\n", encoding="utf-8")
    report = measure(KNOWLEDGE, tmp_path)
    assert report.danger_all.right == 2 and report.danger_numbers.right == 1
    assert [m for m in report.misses if "缺电话 119" in m and "有人拿刀追我" in m]


@pytest.mark.parametrize("entries", [2, 5])
def test_the_classifier_scores_exactly_as_the_fitted_model(entries):
    """Classifier.probabilities does the fitted model's arithmetic itself (it is faster than a
    call into sklearn per message): it must give what predict_proba gives."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    from intents.classifier import C, Classifier, features
    texts = {"pay": ["工资没发", "拖欠配送费", "钱一直不给"], "fine": ["超时罚款", "被罚了五十"],
             "union": ["怎么入会", "工会会费"], "injury": ["摔伤了", "被狗咬了"], "station": ["驿站在哪", "哪能充电"]}
    docs = [(entry, features(t, {"#话题"} if i % 2 else set())) for entry in list(texts)[:entries]
            for i, t in enumerate(texts[entry])]
    ours = Classifier(docs)
    vectoriser = TfidfVectorizer(analyzer=lambda f: f, sublinear_tf=True)
    model = LogisticRegression(C=C, max_iter=3000).fit(vectoriser.fit_transform([f for _, f in docs]),
                                                      [e for e, _ in docs])
    for message in ["工资拖欠了", "罚款", "没见过的字", "驿站驿站"]:
        got = ours.probabilities(features(message, set()))
        want = dict(zip(model.classes_, model.predict_proba(vectoriser.transform([features(message, set())]))[0]))
        assert got == pytest.approx(want, abs=1e-9)


def test_a_one_entry_faq_still_classifies_and_a_huge_one_is_left_to_the_matcher(monkeypatch):
    import intents.classifier as classifier
    assert classifier.Classifier([("only", ["a", "b"])]).probabilities(["a"]) == {"only": 1.0}
    monkeypatch.setattr(classifier, "MAX_ENTRIES", 3)
    huge = classifier.Classifier([(f"e{i}", [str(i)]) for i in range(4)])
    assert not huge.active and huge.probabilities(["1"]) == {}


def test_the_learned_model_finds_danger_the_rules_miss():
    """A message no rule covers is found through the examples it resembles, with their kind."""
    from intents.danger import DangerDetector
    from intents.danger_model import DangerModel
    examples = [("selfharm", t) for t in ("钱也还不上了 就这样吧 再见", "撑了这么久 真的累了 就到这吧",
                                            "以后你们多保重 我走了", "不想再拖累家里了 就到这吧")] + \
               [("violence", t) for t in ("那人拿着刀过来了", "他一拳打在我脸上", "三个人把我按在地上")]
    calm = ["工资什么时候发", "怎么加入工会", "今天好热啊", "罚款能申诉吗", "驿站在哪", "账号被封了", "谢谢"] * 3
    rules_only = DangerDetector({}, {"plea": ["救命"]})
    with_model = DangerDetector({}, {"plea": ["救命"]}, model=DangerModel(examples, calm))
    message = clean("真的累了 就这样吧 大家保重")
    assert not rules_only.detect(message)
    found = with_model.detect(message)
    assert found.kinds == ("selfharm",) and found.evidence.startswith("例句模型")
    assert not with_model.detect(clean("罚款怎么申诉"))
    assert not with_model.detect(clean("算了吧"))  # too short to judge: the rules' job


def test_kb_check_refuses_an_unknown_kind_in_the_danger_examples(tmp_path):
    kb, problems = load_edited(tmp_path, "danger_examples.yaml", "  plea:", "  plead:")
    assert kb is None and any("plead" in str(p) for p in problems)


async def test_a_short_follow_up_without_a_topic_stays_on_the_topic_and_off_topic_stays_off(client):
    rider = "o_short"
    await send_text(client, "工会能免费体检吗", openid=rider)
    assert last_out(client, rider)["intent"] == "health-check"
    await send_text(client, "咋报名", openid=rider)  # alone, this names nothing the FAQ knows
    assert last_out(client, rider)["intent"] == "health-check"
    await send_text(client, "咋报名", openid="o_short_alone")
    assert last_out(client, "o_short_alone")["outcome"] == "fallback"
    reply = await send_text(client, "你知道附近哪家米粉好吃不", openid=rider)
    assert last_out(client, rider)["outcome"] == "fallback" and "体检" not in reply


async def test_after_an_emergency_the_next_question_is_read_within_what_happened(client):
    rider = "o_heat"
    await send_text(client, "我同事中暑倒路边了 叫不醒 怎么办", openid=rider)
    assert last_out(client, rider)["outcome"] == "emergency"
    reply = await send_text(client, "人送医院了 醒了 医药费平台管不管", openid=rider)
    assert last_out(client, rider)["outcome"] != "holding" and "还在等工作人员" in reply


async def test_asking_again_for_a_person_while_queued_is_told_it_is_done(client):
    rider = "o_again"
    await send_text(client, "转人工", openid=rider)
    reply = await send_text(client, "能不能找个真人跟我说 一只手打字太累了", openid=rider)
    assert last_out(client, rider)["outcome"] == "handoff" and "不用再发" in reply
    assert client.app[STORE].store.open_conversation(f"wechat:{rider}", 0)["state"] == "waiting"


@pytest.mark.parametrize("first, first_entry, then, then_entry", [
    # A topic the conversation had not had wins over the pull of the earlier words.
    ("我帐号遭封了 啥子原因都没说", "account-deactivated", "那我要去仲裁的话咋个弄", "arbitration-how"),
    # A place alone asks the same topic of that place.
    ("职业伤害保障试点都有哪些省份", "injury-pilot-regions", "长沙的呢", "injury-pilot-regions"),
], ids=["a-new-topic-wins", "a-place-alone-stays"])
async def test_the_second_message_is_read_against_the_first(client, first, first_entry, then, then_entry):
    assert await intents_after(client, "o_two", first, then) == [first_entry, then_entry]


async def test_a_plea_that_asks_for_a_person_goes_to_one_urgently_with_the_numbers(client):
    reply = await send_text(client, "有没有人能帮我 找个真人", openid="o_plea_person")
    assert last_out(client, "o_plea_person")["outcome"] == "handoff" and "110" in reply and "120" in reply
    conversation = client.app[STORE].store.open_conversation("wechat:o_plea_person", 0)
    assert conversation["urgent"] == 1 and conversation["state"] == "waiting"
    # Said with urgency, the same: the numbers first, then a person, urgently.
    reply = await send_text(client, "有没有活人在线 急", openid="o_plea_urgent")
    said = last_out(client, "o_plea_urgent")
    assert said["outcome"] == "handoff" and said["intent"] == "emergency:plea"
    assert reply.index("110") < reply.index("工作人员")


@pytest.mark.parametrize("text", ["喂喂喂 有没有人在", "有没有活人"])
async def test_calling_again_and_again_for_anyone_is_a_plea_handed_to_a_person_urgently(client, text):
    reply = await send_text(client, text, openid="o_calling")
    said = last_out(client, "o_calling")
    # Both at once: a person is asked for, and it may be danger (kb eval counts it as danger).
    assert said["outcome"] == "handoff" and said["intent"] == "emergency:plea"
    assert "110" in reply and "120" in reply
    assert client.app[STORE].store.open_conversation("wechat:o_calling", 0)["urgent"] == 1


async def test_a_bare_help_me_gets_the_emergency_reply_but_help_me_order_food_does_not(client):
    await send_text(client, "帮我", openid="o_help")
    assert last_out(client, "o_help")["outcome"] == "emergency"
    await send_text(client, "帮我点份外卖", openid="o_food")
    assert last_out(client, "o_food")["outcome"] != "emergency"


@pytest.mark.parametrize("text", ["老子问了八遍了你就回这几句 让人来", "我在西宁 你们有人能见一面不", "工会的人在不",
                                  "麻烦帮我转一下工作人员 我这事比较复杂 几句话说不清", "电话留了 麻烦打过来"])
async def test_a_fed_up_or_plain_request_for_a_person_is_not_taken_for_danger(client, text):
    reply = await send_text(client, text, openid="o_fed_up")
    assert last_out(client, "o_fed_up")["outcome"] == "handoff" and "110" not in reply


@pytest.mark.parametrize("first, first_entry, then, then_entry", [
    ("听同事讲工会有个什么意外互助保障，那是个啥东西", "mutual-aid-cover", "一年多少钱", "mutual-aid-cover"),
    ("想学个技术 工会有没有免费培训", "training", "在哪报名", "training"),
    ("京东这边超时一单扣五块 时效定得太短了", "algorithm-time-limit", "超时扣的钱能要回来吗", "fine-appeal"),
    ("我帐号被封了 没说原因", "account-deactivated", "里面还有900多块没提出来呢", "pay-withheld"),
], ids=["mutual-aid-cost-is-its-own", "training-sign-up-is-its-own", "a-fine-back-is-an-appeal",
        "money-in-a-closed-account-is-pay"])
async def test_a_follow_up_goes_where_the_entry_declares(client, first, first_entry, then, then_entry):
    assert await intents_after(client, "o_declared", first, then) == [first_entry, then_entry]


def test_kb_check_refuses_a_severe_word_that_is_not_a_concept(tmp_path):
    kb, problems = load_edited(tmp_path, "danger.yaml", "severe: [意识,", "severe: [止不住啊, 意识,")
    assert kb is None and any("止不住啊" in str(p) and "概念名" in str(p) for p in problems)


async def test_a_plea_about_a_work_problem_is_that_problem_not_an_emergency(client):
    await send_text(client, "快来人管管 站长天天乱扣我钱", openid="o_plea_topic")
    assert last_out(client, "o_plea_topic")["outcome"] != "emergency"
    await send_text(client, "快来人 我被困在电梯里了", openid="o_plea_danger")  # a danger of its own kind
    assert last_out(client, "o_plea_danger")["outcome"] == "emergency"


async def test_a_message_that_opens_a_new_subject_is_not_read_within_the_last_one(client):
    rider = "o_aside"
    await send_text(client, "工会能免费体检吗", openid=rider)
    await send_text(client, "咋报名", openid=rider)
    assert last_out(client, rider)["intent"] == "health-check"  # read within the topic
    # 对了 / 顺便问下 change the subject: an aside about something else is not the health check.
    reply = await send_text(client, "对了你知道哪里二手电动车便宜不", openid=rider)
    assert last_out(client, rider)["outcome"] == "fallback" and "体检" not in reply
    await send_text(client, "工会能免费体检吗", openid="o_aside2")
    await send_text(client, "顺便问下 站长扣了我押金不退咋办", openid="o_aside2")
    assert last_out(client, "o_aside2")["intent"] == "pay-deposit"


def test_the_learned_model_does_not_judge_letters_alone():
    """xswl (笑死我了) took the emergency reply from the model's grams of Latin letters; letters
    alone are the rules' job (sos, help) and pinyin is written back in characters first."""
    from intents.danger import DangerDetector
    from intents.danger_model import DangerModel
    examples = [("plea", t) for t in ("xswl", "xsww", "xswk", "qwer", "快来人 救救我", "快来人啊", "救救我啊 快")] + \
               [("violence", t) for t in ("那人拿着刀过来了", "他一拳打在我脸上", "三个人把我按在地上")]
    calm = ["工资什么时候发", "怎么加入工会", "今天好热啊", "罚款能申诉吗", "驿站在哪", "谢谢"] * 3
    detector = DangerDetector({}, {"plea": ["救命"]}, model=DangerModel(examples, calm))
    assert not detector.detect(clean("xswl"))
    assert detector.detect(clean("快来人 救救我"))


@pytest.mark.parametrize("text, emergency", [
    ("下大雨 我躲在桥下面 单还没送 超时了咋办", False),  # sheltering from rain is not hiding
    ("刚才差点被一辆车撞上 还好没事 那个路口红绿灯太短了 能反映吗", False),  # nobody hurt
    ("刚才被车撞了 还好没事 可那司机拿着刀下车了", True),  # a threat is still there
    ("刚才被车撞了 人都没事 就是他躺着不动", True),  # a severe sign outweighs it
    ("电池有点鼓包 还能用吗 换一块多少钱", False),
    ("电池鼓包了 烫得不敢碰 还在滋滋响", True),
])
async def test_a_near_miss_nobody_was_hurt_in_and_a_cool_bulging_battery_are_not_emergencies(client, text,
                                                                                            emergency):
    await send_text(client, text, openid="o_near")
    assert (last_out(client, "o_near")["outcome"] == "emergency") == emergency


@pytest.mark.parametrize("text", ["13812345678 打给我", "回电话 15900001234 快", "帮我打给我老婆 139", "叔我被",
                                  "快 我在", "定位发不出去 我在高新区天府三街", "能不能马上来 长沙路", "？？？？？有人没",
                                  "！！！！！！", "我在长安街那个", "[位置] 东莞市长安镇霄边社区",
                                  "人民路88号3楼", "锦绣花园7栋1802 快", "望京那个加油站后面",
                                  "我在武汉光谷这边 快来", "15902118846 打这个 快", "我在那个", "x",
                                  "张伟 13912345678", "帮我打给我哥 13600001111", "…李强", "...王师傅",
                                  "能打给我吗 马上", "快叫人", "来",
                                  # where and nothing else, as people name where they are
                                  "南山区科技园", "杭州下沙 快", "双流机场附近",
                                  # calling out, afraid, half typed
                                  "？？？？", "??在不在", "人呢人呢", "速回", "看到回我", "我好怕",
                                  "bangb", "jiumi", "快lai", "哎呀快", "谁来", "在？？",
                                  "帮我 人民路和解放路路口", "龙华 快", "喂？喂？", "😱🆘🆘"])
async def test_a_first_message_shaped_like_a_plea_gets_110_and_an_urgent_person(client, text):
    # Someone who cannot say what is wrong: a number, a place, a message cut off. (帮我 and a
    # crossroads looks like a crash to the learned model: its kind is kept beside the plea.)
    reply = await send_text(client, text, openid="o_shape")
    intent = last_out(client, "o_shape")["intent"]
    assert intent.startswith("emergency:") and "plea" in intent.split(":")[1].split("+") and "110" in reply
    conversation = client.app[STORE].store.open_conversation("wechat:o_shape", 0)
    assert conversation["urgent"] == 1 and conversation["state"] == "waiting"


def test_what_makes_a_message_look_like_a_plea():
    from intents.plea_shape import plea_shape
    assert plea_shape("13812345678", "13812345678") == "只有电话号码"
    assert plea_shape("叔我被", "叔我被") == "话没说完"
    assert plea_shape("我在长沙路", "我在长沙路") == "只说了在哪"
    # A number inside a question, a place with a question, a topic named, punctuation alone: no.
    assert plea_shape("我电话13812345678 工资没发怎么办", "我电话13812345678工资没发怎么办") == ""
    assert plea_shape("我在长沙路 附近有驿站吗", "我在长沙路附近有驿站吗", names_a_topic=True) == ""
    assert plea_shape("。。。。", "") == ""
    assert plea_shape("有人没", "有人没") == ""  # without the anxious ？？？ it is a greeting
    # An address down to the door, or a landmark and a side of it, needs no 我在.
    assert plea_shape("人民路88号3楼", "人民路88号3楼") == "只说了在哪"
    assert plea_shape("望京那个加油站后面", "望京那个加油站后面") == "只说了在哪"
    assert plea_shape("送到5栋1802了吗", "送到5栋1802了吗") == ""
    assert plea_shape("超市后面那家店关门了吗", "超市后面那家店关门了吗") == ""
    # A name beside a number, or called out after an ellipsis; a word after one is not a name.
    assert plea_shape("张伟 13912345678", "张伟13912345678") == "只有电话号码和名字"
    assert plea_shape("…李强", "李强") == "只喊了一个人名"
    assert plea_shape("…谢谢", "谢谢") == "" and plea_shape("…我想想", "我想想") == ""
    assert plea_shape("欠薪 13812345678", "欠薪13812345678", names_a_topic=True) == ""
    assert plea_shape("能打给我吗 马上", "能打给我吗马上") == "要马上打电话"
    assert plea_shape("有空打给我", "有空打给我") == ""  # asked to be called, not hurried
    # A place and nothing else: a kind of place, or a city the concepts know and a word or two.
    assert plea_shape("宝安西乡", "宝安西乡") == "只说了在哪"
    assert plea_shape("杭州下沙", "杭州下沙", names_a_place=True) == "只说了在哪"
    assert plea_shape("下沙", "下沙") == ""  # no sign that it is a place
    assert plea_shape("北京烤鸭", "北京烤鸭", names_a_place=True) == ""  # says something of it
    assert plea_shape("昆明过桥米线推荐一家", "昆明过桥米线推荐一家", names_a_place=True) == ""
    assert plea_shape("南山区哪里有驿站", "南山区哪里有驿站") == ""
    # Four question marks or more call out; two or three are "huh?".
    assert plea_shape("？？？？", "") == "一直在问" and plea_shape("？？？", "") == ""
    # The start of a plea in pinyin, at least five letters of it.
    assert plea_shape("bangb", "bangb") == "拼音没打完" and plea_shape("快lai", "快lai") == "拼音没打完"
    assert plea_shape("bang", "bang") == "" and plea_shape("hello", "hello") == ""


@pytest.mark.parametrize("text", ["北京烤鸭", "昆明过桥米线推荐一家", "？？？", "我们村有个跑货拉拉的 去年在高速上出事人没了 家属一直拿不到赔偿 工会能帮吗",
                                  "黄河边上那个驿站还开着吗 想去坐坐", "顾客备注 门口有狗 狗不咬人 我咬人",
                                  "燃气报警器是免费装的吗", "小区电梯又停了 爬了28楼 腿废了", "工资被拖了打啥子电话",
                                  "我老乡去年在工地摔下来 现在还在打官司 工会能帮找律师吗"])
async def test_a_city_with_food_huh_and_a_death_asked_about_for_a_family_are_not_emergencies(client, text):
    await send_text(client, text, openid="o_not_plea")
    assert last_out(client, "o_not_plea")["outcome"] != "emergency"


async def test_afraid_of_what_calling_the_police_costs_is_a_question_not_a_plea(client):
    await send_text(client, "送餐的时候跟一个电动车撞了 对方要我赔钱", openid="o_afraid")
    await send_text(client, "要不要报警 我怕报了警耽误我跑单", openid="o_afraid")
    assert last_out(client, "o_afraid")["outcome"] != "emergency"


async def test_how_long_asked_within_a_topic_is_a_follow_up_though_the_learned_model_half_likes_it(client):
    await send_text(client, "前年被站点开了 工资没结清 现在还能去仲裁吗", openid="o_too_late")
    await send_text(client, "过了就没办法了？", openid="o_too_late")
    assert last_out(client, "o_too_late")["outcome"] != "emergency"


async def test_a_place_said_within_a_conversation_is_a_follow_up_not_a_plea(client):
    await send_text(client, "工资被拖欠了两个月怎么办", openid="o_place")
    assert last_out(client, "o_place")["outcome"] == "answer"
    await send_text(client, "我在长沙路", openid="o_place")
    assert last_out(client, "o_place")["outcome"] != "emergency"


async def test_a_platform_s_staff_in_a_question_gets_the_answer_and_how_to_reach_ours(client):
    reply = await send_text(client, "租的换电套餐押金 不跑了想退 app里翻半天找不到退的地方 客服一直转人工转不到",
                            openid="o_their_staff")
    out = last_out(client, "o_their_staff")
    assert out["outcome"] == "answer" and out["intent"] == "pay-deposit"
    assert "转人工" in reply  # and how to reach a person of ours, if that is what they meant


async def test_a_request_for_one_of_ours_inside_a_question_is_handed_to_a_person(client):
    await send_text(client, "请问可以安排工作人员联系我吗？我在武汉江汉区，被拖欠了两个月工资", openid="o_ours")
    assert last_out(client, "o_ours")["outcome"] == "handoff"


@pytest.mark.parametrize("text, kind", [
    ("保安把我摁在岗亭里不让出来 说等他们经理", "violence"),
    ("每次过马路都在想 要是被撞死就好了 不用再还钱了", "selfharm"),
    ("互助保障里面 是自己想不开的 赔不赔", "selfharm"),
    ("中暑了吧 吐了 好难受 单还挂着 这个能报工伤不", "medical"),
    ("电动车卖了 钱转给我妹了 手机也要停了 你们别回了", "selfharm"),  # things given away, a farewell
    ("你说人要是走了 欠的钱是不是就不用还了", "selfharm"),  # a debt asked about as if after death
    ("心跳好快 跳得我发慌 车停服务区了 以前从来没这样过", "medical"),  # 以前 says it is new, not past
    ("他掐我脖子 我挣开跑出来了 手一直抖 他会不会追出来", "violence"),  # 会不会: fear, not a hypothesis
    ("被几个人堵在楼道里 一个拍视频一个推我", "violence"),  # 拍视频 is not "a video I watched"
    ("拐弯跟一个骑手撞上了 他不说话 眼睛睁着", "traffic"),  # a crash and a grave state, no 车 named
    ("下雨路滑摔了 人滑到公交车底下去了 半截身子在车下面", "traffic"),  # under a bus: a crash, not self-harm
    ("每天跑14个小时还是还不上 我要是没了 保险能赔多少 家里能拿到吗", "selfharm"),
    ("这世界没我也一样转", "selfharm"),
    ("有个男的骑车一直跟着我 三条街了 这单还送吗 超时算谁的", "violence"),  # a question beside it
    ("肚子疼得直不起腰 疼了两个小时越来越厉害 能申请免责吗", "medical"),
    ("离婚了 工作也丢了 我看就这样算了吧", "selfharm"),  # losses, then giving up
    ("天天跑十几个小时 还不完的债 活着图啥", "selfharm"),
    ("我这种情况 不是意外 互助金能领吗", "selfharm"),  # a payout asked for a death not by accident
    ("想给家里留点钱 那个保险怎么才能赔最多", "selfharm"),
    ("今天是真的晚安了 谢谢你们", "selfharm"),
    ("那个男的还在外面 我躲进便利店了 这单还要送吗", "violence"),  # hiding from someone still there
    ("雇主喝醉了 说要把我从窗户扔下去", "violence"),  # a threat, not only a locked room
    ("两个送外卖的撞一块了 一个满头是血", "traffic"),  # a crash, not only bleeding
    ("货车甩尾横在路中间 司机卡在里面出不来", "traffic"),
    ("刚才被车蹭了一下 胳膊在流血 这单会扣钱吗", "traffic"),
    ("从楼梯上滚下去了 腿动不了 没人", "trapped"),  # fallen and cannot get up
    ("脚陷在下水道的缝里拔不出来 车一直从旁边过", "trapped"),
    ("地库的水一直往下灌 电动车推不出去", "trapped"),  # water, nobody pushing
    ("几层楼才能一下就没了", "selfharm"),  # how high, to die at once
    ("如果我不在了 是不是也没人发现", "selfharm"),
    ("我要是出点事 赔的钱够还车贷吧", "selfharm"),
    ("那条狗把我腿咬了 还在楼道里守着", "violence"),  # an animal still attacking: the police
    ("help, a man is hitting me", "violence"),
    ("fire 火 电池", "fire"),
    ("在厕所滑倒了 站不起来 家里没人", "trapped"),  # fallen and cannot get up: a rescue too
    ("哪种药最猛", "selfharm"),
    ("有没有睡着了就不用醒的药", "selfharm"),  # 睡着了 is not 着了, on fire
    ("好绝望 一个人在屋里 窗户开着 一直往下看", "selfharm"),
    ("店老板把我关在仓库里 说不赔钱别想出这个门", "violence"),  # a demand for money beside it
    ("燃气表一直嘀嘀叫 味道好大", "fire"),
    ("货架倒了压我身上 起不来", "trapped"),
    ("划了 流了好多血 也不疼", "selfharm"),
    ("人从十八楼下去会不会很疼", "selfharm"),
    ("工伤不认 钱也要不回来 我还有啥活头", "selfharm"),
    ("胸口一阵一阵疼 左胳膊也酸 在去医院的路上了 这算工伤吗", "medical"),  # on the way: now
])
async def test_danger_with_a_question_or_said_sideways_is_still_danger(client, text, kind):
    await send_text(client, text, openid="o_sideways")
    assert last_out(client, "o_sideways")["intent"].startswith("emergency:") and \
        kind in last_out(client, "o_sideways")["intent"]


@pytest.mark.parametrize("first, first_entry, fact, then_entry", [
    ("灵活就业的社保自己怎么交", "social-insurance-flexible", "本地户口", "social-insurance-flexible"),
    ("灵活就业的社保自己怎么交", "social-insurance-flexible", "户口河南的 在杭州跑外卖", "social-insurance-hukou"),
    ("送外卖摔伤了 平台不认不赔怎么办", "injury-platform-refuses", "我跟公司签了劳动合同的", "injury-gongshang"),
    ("兼职跑单的能入工会吗", "union-who-can-join", "没合同", "union-who-can-join"),
])
async def test_a_stated_fact_is_read_within_the_topic_or_where_the_entry_says_it_leads(client, first, first_entry,
                                                                                      fact, then_entry):
    assert await intents_after(client, "o_fact", first, fact) == [first_entry, then_entry]


def test_a_statement_is_told_from_a_question():
    from intents.question import asks
    for statement in ("没合同", "本地户口", "签过一个劳务协议", "我跟公司签了劳动合同的"):
        assert not asks(statement, clean(statement)), statement
    for question in ("没合同能报吗", "签还是不签", "有期限没", "合同要不要签", "这个有影响吗", "合同？"):
        assert asks(question, clean(question)), question


async def test_where_the_rider_works_said_within_a_topic_is_not_taken_for_danger(client):
    brain = client.app[ENGINE].brain
    assert brain.danger_in("面包车 在长沙").learned  # alone, the learned model half-likes it
    await send_text(client, "货拉拉司机遇到问题找谁", openid="o_where")
    assert last_out(client, "o_where")["outcome"] == "answer"
    await send_text(client, "面包车 在长沙", openid="o_where")
    assert last_out(client, "o_where")["outcome"] != "emergency"
    await send_text(client, "后座这人喝多了一直骂 还要抢方向盘", openid="o_where")
    assert last_out(client, "o_where")["outcome"] == "emergency"  # danger said there still counts


@pytest.mark.parametrize("first, entry, reply", [
    ("封号7天", "account-deactivated", "没绕"),
    ("司机能入会吗", "union-who-can-join", "能入？"),
    ("抽成多少算正常", "ridehail-commission", "有规定没"),
    ("封号7天", "account-deactivated", "对"),
    ("货拉拉司机遇到问题找谁", "truck-driver", "4米2"),
])
async def test_a_short_reply_within_a_topic_is_read_within_it(client, first, entry, reply):
    assert await intents_after(client, "o_short", first, reply) == [entry, entry]


async def test_a_sound_within_a_topic_is_still_only_a_sound(client):
    await send_text(client, "封号7天", openid="o_sound")
    await send_text(client, "嗯嗯", openid="o_sound")
    assert last_out(client, "o_sound")["outcome"] == "interjection"


async def test_where_or_for_which_platform_asks_the_topic_last_answered(client):
    rider = "o_where_topic"
    await send_text(client, "我娃跑外卖的 平台把他押金扣了不退", openid=rider)
    await send_text(client, "我的意思是 不是押金 是他最后半个月跑单的钱没给", openid=rider)
    assert last_out(client, rider)["intent"] == "pay-withheld"
    await send_text(client, "在西安 美团的", openid=rider)  # not the deposit the earlier words name
    assert last_out(client, rider)["intent"] == "pay-withheld"


async def test_an_acknowledgement_within_a_topic_is_thanked_not_answered_again(client):
    await send_text(client, "封号7天", openid="o_ack")
    reply = await send_text(client, "行", openid="o_ack")
    assert last_out(client, "o_ack")["outcome"] == "thanks" and "不客气" in reply


def test_kb_check_refuses_a_situation_that_is_not_a_topic_and_accepts_one_in_related(tmp_path):
    _, problems = load_edited(tmp_path / "a", "concepts.yaml", "situation_topics: [合同, 户口]",
                              "situation_topics: [合同, 户口, 没有这个话题]")
    assert any("situation_topics" in str(p) and "没有这个话题" in str(p) for p in problems)
    # related may name a situation (户口 -> social-insurance-hukou), but not just any word
    kb, problems = load_knowledge(KNOWLEDGE)
    assert kb.entry("social-insurance-flexible").related["户口"] == "social-insurance-hukou"
    assert not any("户口" in str(p) and "related" in str(p) for p in problems)
    _, problems = load_edited(tmp_path / "b", "faq/insurance.yaml", "户口: social-insurance-hukou}",
                              "户口: social-insurance-hukou, 身高: social-insurance-hukou}")
    assert any("身高" in str(p) and "situation_topics" in str(p) for p in problems)
