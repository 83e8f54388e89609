"""Reading a rider's message for a station question: 附近驿站, 哪里能充电, 我在朝阳区望京 哪有
驿站. Only words, no database: the places come from the directory (bot/stations_desk.py)."""
from __future__ import annotations

import re
import unicodedata

from stations.services import services_in

STATION_WORDS = ("驿站", "驛站", "服务站", "服務站", "服务点", "歇脚的地方", "休息的地方", "歇会的地方", "暖心驿站",
                 "爱心驿站", "职工之家", "一站")
WHERE_WORDS = ("附近", "最近", "在哪", "哪里", "哪儿", "哪有", "哪个", "哪能", "哪可以", "哪边", "周边", "周围",
               "离我", "这边", "那边", "一带", "哪", "边上", "旁边", "怎么走", "怎么去", "位置", "地址", "找个", "找一个", "喺边", "有没有", "有冇")
# What a rider can look for without naming a station (哪里能充电); 法律服务, 药箱 and the
# like only narrow a station search, since 哪里能申请法律援助 is an FAQ question.
SEARCHABLE_ALONE = {"饮水", "如厕", "充电", "热饭", "休息", "避雨", "纳凉取暖", "换电"}
# Words that are not a place, removed before the rest is looked up in the directory.
FILLER = ("我在", "我现在在", "现在在", "我这", "我人在", "人在", "在", "这边", "那边", "这里", "那里", "这儿", "附近",
          "周边", "旁边", "一带", "最近", "的", "有没有", "有冇", "哪里", "哪儿", "哪有", "哪能", "哪个", "哪边", "在哪",
          "能不能", "可以", "能", "有", "吗", "么", "呢", "啊", "呀", "吧", "工会", "户外劳动者", "骑手", "外卖",
          "手机", "快没电了", "没电了", "想找", "找", "帮我", "请问", "一下", "个", "地方", "去", "上", "喝", "水")
PLACE_END = re.compile(r"(区|县|市|镇|乡|村|路|街|道|巷|里|广场|大道|公园|站|桥|门|园|城|口|中心|大厦|小区|商圈)$")


def clean(text: str) -> str:
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text)).strip()


def asks_for_station(text: str) -> bool:
    t = clean(text)
    has_station = any(w in t for w in STATION_WORDS)
    has_where = any(w in t for w in WHERE_WORDS)
    if has_station and has_where:
        return True
    return has_where and bool(SEARCHABLE_ALONE & set(services_in(t)))


def place_words(text: str, services_words: tuple[str, ...] = ()) -> list[str]:
    """The runs of the message left once station, service and filler words are gone, longest
    first: 我在望京这边 哪有能充电的驿站 -> [望京]."""
    from stations.services import SERVICES
    rest = clean(text)
    words = [*STATION_WORDS, *(w for s in SERVICES.items() for w in (s[0], *s[1])), *sorted(FILLER, key=len, reverse=True)]
    for word in sorted(set(words), key=len, reverse=True):
        rest = rest.replace(word, " ")
    runs = [r for r in re.split(r"[\s,，。.!！?？、;；:：()（）]+", rest) if len(r) >= 2]
    return sorted(dict.fromkeys(runs), key=len, reverse=True)


def looks_like_place(text: str) -> bool:
    """A short answer that names a place (朝阳区望京, 南屏街), after being asked where."""
    t = clean(text)
    return 2 <= len(t) <= 20 and bool(PLACE_END.search(t.rstrip("这边那边附近一带")))
