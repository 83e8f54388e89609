"""The fixed vocabulary of what a station offers, and the words riders and spreadsheets use
for each. Fixed, so that "能充电的" finds every station that can charge a phone, whatever
each union wrote; documented in the README (CSV format). The list follows what unions publish
for their 户外劳动者服务站点 (../shared/policy-facts.md §10): rest, toilet, water, heating a
meal, shelter from rain, phone charging, reading; at some, legal help, battery swaps and
first-aid supplies."""
from __future__ import annotations

import re
import unicodedata

# canonical name -> other words for it (CSV cells and riders' messages). Longer words are
# tried first, so 换电池 is 换电, not 充电.
SERVICES: dict[str, tuple[str, ...]] = {
    "饮水": ("喝水", "饮用水", "热水", "开水", "直饮水", "饮水机", "喝口水", "接水", "茶水"),
    "如厕": ("厕所", "卫生间", "洗手间", "上厕所", "公厕", "茅房", "解手"),
    "充电": ("手机充电", "充手机", "充电宝", "给手机充电", "充个电", "充下电", "充会电"),
    "热饭": ("餐食加热", "微波炉", "加热", "热餐", "热一下饭", "热个饭", "吃饭", "午休吃饭"),
    "休息": ("歇脚", "歇会", "歇一会", "歇歇", "休憩", "坐一会", "坐会", "午休", "歇口气", "躺一会"),
    "避雨": ("躲雨", "遮雨", "避风", "挡雨"),
    "纳凉取暖": ("空调", "纳凉", "避暑", "乘凉", "取暖", "暖和", "吹空调", "降温"),
    "药箱": ("应急药品", "药品", "医药箱", "急救箱", "急救包", "创可贴", "药"),
    "法律服务": ("法律咨询", "法律援助", "律师", "维权咨询", "法律"),
    "换电": ("换电池", "换电柜", "电池更换", "电瓶", "换电瓶"),
    "阅读": ("看书", "书屋", "图书", "读书"),
    "无线网": ("wifi", "wi-fi", "无线", "上网"),
}
# Riders say 药 and 法律 in other senses too often for these to start a station search alone.
_NOT_FROM_RIDERS = {"药", "法律", "吃饭", "加热", "无线", "上网", "降温", "暖和"}
SEPARATORS = re.compile(r"[、,，;；/|\s]+")
_LOOKUP = {word.lower(): name for name, words in SERVICES.items() for word in (name, *words)}
_RIDER_WORDS = sorted((w for w in _LOOKUP if w not in _NOT_FROM_RIDERS), key=len, reverse=True)


def canonical(word: str) -> str | None:
    return _LOOKUP.get(unicodedata.normalize("NFKC", word).strip().lower())


def parse_services(cell: str) -> tuple[tuple[str, ...], list[str]]:
    """(the canonical services in vocabulary order, the words not in the vocabulary)."""
    found, unknown = set(), []
    for word in SEPARATORS.split(unicodedata.normalize("NFKC", cell or "")):
        if not word:
            continue
        name = canonical(word)
        if name is None:
            unknown.append(word)
        else:
            found.add(name)
    return tuple(n for n in SERVICES if n in found), unknown


def services_in(text: str) -> tuple[str, ...]:
    """The services a rider's message asks for: 哪里能充电 -> (充电,); 能喝水上厕所的 ->
    (饮水, 如厕)."""
    rest = unicodedata.normalize("NFKC", text).lower()
    found = set()
    for word in _RIDER_WORDS:
        if word in rest:
            found.add(_LOOKUP[word])
            rest = rest.replace(word, " ")
    return tuple(n for n in SERVICES if n in found)


def join(services: tuple[str, ...] | list[str]) -> str:
    return "、".join(services)
