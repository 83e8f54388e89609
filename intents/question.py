"""Whether a message asks something or only states a fact: 没合同 and 本地户口 tell the bot about
the rider's situation, 没合同能报吗 asks. Within a conversation a statement qualifies the topic
under way; a question can open a new one. Pure code, no I/O."""
from __future__ import annotations

import re

# Question words and particles of standard Chinese and the dialects riders write in (咋, 啥子,
# 么子, 不咯), a yes-no pair (能不能, 算不算, 有没有, 签还是不签), a question mark, a trailing 没 (有期限没).
ASKING = re.compile(
    r"吗|么|呢|嘛|咋|怎|如何|哪|啥|多少|几|谁|为何|干嘛|"  # 么 covers 什么, 为什么, 么子
    r"(.)[不没]\1|(.)还是[不没]?\2|可以不|行不|能不|中不中|得不得|要得不|是否|有无|请问|问一下|问下|想问|咨询|"
    r"影响|有用|没$|不$|否$")
QUESTION_MARKS = ("?", "？")


def asks(text: str, cleaned: str) -> bool:
    """text as the rider sent it (for its question mark); cleaned: intents.normalise.clean of it."""
    return any(mark in text for mark in QUESTION_MARKS) or bool(ASKING.search(cleaned))
