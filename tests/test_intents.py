"""Normalisation, trigger phrases, splitting and the matcher's contract."""
from __future__ import annotations

import pytest

from bot.textparts import split_to_bytes, utf8_len
from intents import Matcher, Normaliser, decide
from intents.matcher import Candidate, Thresholds
from intents.normalise import clean
from intents.pinyin import PinyinReader
from intents.triggers import PhraseSet


def test_clean_folds_width_script_case_punctuation_and_emoji():
    assert clean("ＡＰＰ帳號被封了！！😭 OK?") == "app帐号被封了ok"


def test_synonyms_replace_longest_variant_first():
    n = Normaliser({"外卖小哥": "骑手", "小哥": "骑手", "外賣員": "骑手"})
    assert n("外卖小哥被罚款") == "骑手被罚款"
    assert n("外賣員被罰款") == "骑手被罚款"  # variants are cleaned too
    assert n("小哥你好") == "骑手你好"


def test_phrase_set_anywhere_both_parts_and_whole():
    phrases = PhraseSet(["转人工", "撞+血", "=人工"])
    assert phrases.found_in(clean("我要轉人工！"))
    assert phrases.found_in(clean("被车撞了流了好多血"))
    assert not phrases.found_in(clean("被车撞了"))
    assert phrases.found_in("人工") and phrases.found_in("人工人工人工")
    assert not phrases.found_in(clean("没有劳动合同的人工会要不要"))
    assert not phrases.is_whole("")


@pytest.mark.parametrize("limit", [10, 64, 2048])
def test_split_keeps_every_character_within_the_byte_limit(limit):
    text = "第一行：保存证据。\n" + "很长的一行" * 300 + "\n最后一行😀"
    parts = split_to_bytes(text, limit)
    assert all(utf8_len(p) <= limit for p in parts)
    assert "".join(parts).replace("\n", "") == text.replace("\n", "")


def test_matcher_ranks_by_meaning_and_decides():
    m = Matcher({"deposit": (["押金不退怎么办", "要交押金吗"], ["押金"]),
                 "injury": (["送餐摔伤了怎么办", "受伤了找谁"], ["受伤"])}, clean)
    ranked = m.match("押金不给退怎么办")
    assert ranked[0].entry_id == "deposit" and all(c.score < ranked[0].score for c in ranked[1:])
    assert decide(ranked).kind == "answer"
    assert m.match("") == [] and m.match("😀") == []
    assert decide(m.match("明天天气怎么样")).kind == "fallback"


def test_a_matcher_with_one_entry_replaced_ranks_as_one_built_afresh():
    """kb check's leave-one-out uses replacing() instead of a rebuild per phrasing."""
    entries = {"deposit": (["押金不退怎么办", "要交押金吗", "装备费退不退"], ["押金"]),
               "injury": (["送餐摔伤了怎么办", "受伤了找谁"], ["受伤"]),
               "fine": (["超时罚款合理吗", "被罚了五十"], ["罚款"])}
    whole = Matcher(entries, clean)
    for rest in (["要交押金吗"], ["装备费退不退", "摔伤了押金退不退"], []):
        replaced = whole.replacing("deposit", rest, ["押金"])
        fresh = Matcher({**entries, "deposit": (rest, ["押金"])}, clean)
        for text in ("押金不退怎么办", "装备费退不退", "摔伤了找谁", "罚款五十"):
            assert replaced.match(text) == fresh.match(text), (rest, text)
    assert whole.match("押金不退怎么办")[0].score == 100  # the original is left as it was


def test_a_whole_message_rule_fires_only_on_its_words_alone():
    from intents.rules import RuleSet
    rules = RuleSet(["=火|烟"], {})
    assert rules.first("火") and rules.first("火火火") and rules.first("烟火")
    assert rules.first("火太旺了") is None and rules.first("上火") is None and rules.first("") is None


def test_decide_clarifies_between_close_candidates():
    close = [Candidate("a", 70, ""), Candidate("b", 69, ""), Candidate("c", 20, "")]
    decision = decide(close, Thresholds(answer=60, margin=5, clarify=40))
    assert decision.kind == "clarify" and [c.entry_id for c in decision.candidates] == ["a", "b"]


def test_pinyin_reader_writes_known_words_back_in_characters():
    reader = PinyinReader(["中暑", "快晕了", "救我", "爬不上来", "血"])
    assert reader.read("zhong shu le kuai yun le") == "中暑le 快晕了"
    assert reader.read("jiuwo") == "救我"  # no spaces: split into syllables first
    assert "爬不上来" in reader.read("diao shui gou li le pa bu shang lai")
    # One syllable is too ambiguous to write back (xue: 血 or 学).
    assert "血" not in reader.read("wo yao xue xi")


@pytest.mark.parametrize("text", ["help me", "xswl", "ok", "送餐超时被罚款", "我在 zhongshu 好多字都是汉字啊"])
def test_pinyin_reader_leaves_messages_not_typed_in_pinyin(text):
    assert PinyinReader(["中暑"]).read(text) is None
