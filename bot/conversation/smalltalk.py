"""Greetings, thanks and a lone interjection get a short reply, not an FAQ menu."""
from __future__ import annotations

from bot.conversation.model import Decision, Turn

INTERJECTION_CHARS = 2  # a message this short that names nothing (啊, 嗯嗯, ？？) gets a short prompt
# The characters of a sound rather than a word (啊, 嗯嗯, 哈哈, 哦豁).
INTERJECTIONS = set("啊嗯哦噢哈呵额呃唉哎嘿喔哇呀嘛呜豁诶欸咦嗷ok")
# 行, 好吧, 懂了 on their own: the rider has what they needed; thanked back like a thanks.
ACKNOWLEDGEMENTS = {"行", "好", "行吧", "好吧", "明白", "明白了", "懂了", "了解", "了解了"}
ACKNOWLEDGEMENT_CHARS = 3  # 行吧, 好的, ok before a thanks
# 行 知道了 谢了老铁, 好 多谢晒: nothing but acknowledgements, thanks and who is thanked. Read
# piece by piece, so that a word the concepts know (晒 is also the sun) does not make it a question.
# (好的, 知道了, 收到 are thanks in lexicon.yaml already: a piece is looked up there first.)
ACKNOWLEDGEMENT_PIECES = ACKNOWLEDGEMENTS | {"ok", "嗯", "嗯嗯", "哦", "噢"}
THANKED = {"老铁", "兄弟", "哥们", "哥们儿", "师傅", "老师", "大哥", "大姐", "哥", "姐", "亲", "啦", "哈", "呀", "了"}
LONGEST_PIECE = 6


def decide(turn: Turn) -> Decision | None:
    cleaned, brain = turn.cleaned, turn.brain
    if not cleaned:
        # 。。。 or ？？: a shrug, or someone who cannot type what is wrong; the prompt says
        # what the bot can do and gives the emergency numbers.
        return Decision(turn.say("interjection", "interjection"))
    if brain.greetings.is_whole(cleaned):
        return Decision(turn.say("greeting", "greeting"))
    found = turn.reading.found
    names_nothing = not (found.topics or found.aspects)
    if brain.thanks.is_whole(cleaned) or cleaned in ACKNOWLEDGEMENTS or (names_nothing and _thanks_after_a_word(turn)) \
            or _only_acknowledgements(turn):
        return Decision(turn.say("thanks", "thanks"))
    if len(cleaned) <= INTERJECTION_CHARS and names_nothing and not _names_a_platform(turn) and \
            (not turn.context or set(cleaned) <= INTERJECTIONS):
        # Within a topic, 是, 没绕, 能入 answer or ask about it (followup.py reads them there);
        # 啊, 嗯嗯, 哈哈 are still only a sound.
        return Decision(turn.say("interjection", "interjection"))
    return None


def _thanks_after_a_word(turn: Turn) -> bool:
    """行吧 谢了, ok谢谢: thanks after a word or two of acknowledgement, not a question."""
    cleaned = turn.cleaned
    return any(turn.brain.thanks.is_whole(cleaned[i:]) for i in range(1, min(ACKNOWLEDGEMENT_CHARS, len(cleaned) - 1) + 1))


def _only_acknowledgements(turn: Turn) -> bool:
    """The message splits into acknowledgements and thanks (and 老铁, 哈), one of them a thanks."""
    cleaned, thanks = turn.cleaned, turn.brain.thanks
    # ends[i]: cleaned[:i] splits so; the value says whether a thanks was among the pieces.
    ends: dict[int, bool] = {0: False}
    for i in range(1, len(cleaned) + 1):
        for j in range(max(0, i - LONGEST_PIECE), i):
            if j not in ends:
                continue
            piece = cleaned[j:i]
            if thanks.is_whole(piece):
                ends[i] = True
            elif piece in ACKNOWLEDGEMENT_PIECES or piece in THANKED:
                ends[i] = ends.get(i, False) or ends[j]
    return ends.get(len(cleaned), False) and len(cleaned) > 1


def _names_a_platform(turn: Turn) -> bool:
    """美团, 滴滴: within a conversation, the rider saying where they work (a follow-up)."""
    return bool(turn.context) and turn.names_a_platform
