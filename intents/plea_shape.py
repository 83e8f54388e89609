"""A plea for help recognised by the shape of the message rather than its words: someone in
danger often cannot say what is wrong. They send a phone number (13812345678 打给我, 刘红梅
159…), a name after an ellipsis (…王磊), call me now (能打给我吗 现在 马上), a message cut off
in the middle (叔我被, 快 我在), where they are and nothing else (定位发不出去 我在天府三街,
人民路88号3楼), or call out anxiously (？？？？有人没).

Exclamation marks alone (！！！) are one too, a single letter (x, h: all a hand could type;
test set 18's writers meant it so, and nobody asks a question in one letter), four question
marks or more (？？？？？？), 喂？喂？ and 在？？, 🆘, a place and nothing else, named the way
people name where they are (宝安西乡, 杭州下沙 快, 成都双流机场附近, 龙华 快, 帮我 人民路和解放路
路口), and a plea half typed in pinyin (bangb, 快lai). Other punctuation alone (。。。, ？？,
？？？), letters typed at random (asdfgh) and 喂喂喂 听得到吗 are not: nearly every writer of our
rider sets meant them as a shrug or a test of the line.
(Punctuation gets the short prompt of messages.yaml's interjection, which gives 110 and 120 too.)

Only the first message of a conversation is read this way (the caller decides that): later, a
number or a place is an answer to the bot's question. A false alarm costs a caseworker a
minute; a miss can cost a life. Pure code, no I/O."""
from __future__ import annotations

import re

from pypinyin import lazy_pinyin

# A mainland mobile number, whole or cut off after its first digits (帮我打给我老婆 139).
MOBILE = re.compile(r"1[3-9]\d{9}")
CUT_OFF_NUMBER = re.compile(r"(打给|打电话给|联系|电话)\D{0,4}1\d{1,9}$")
# Words around a number that ask to be called (回电话 15900001234 快): the message is still
# nothing but the number.
CALL_ME = re.compile(r"^(快|赶紧|马上|回电话|回个电话|打给我|打我|给我打|打过来|打这个|打这个号|call|电话|我的电话|我电话|号码|是|这是|\d)*$")
CALLING_MARKS = 2  # ？？有人没, ??在不在: an anxious call, not a greeting
# A message this short that stops on a word that needs more (我被, 我在, 现在) was cut off.
CUT_OFF_CHARS = 6
CUT_OFF_ENDINGS = ("被", "我在", "现在", "在这", "他要", "他拿", "他把", "有人", "我在那个", "我在那")
# 快 after where the rider is (长沙路 快, 7栋1802 快): still nothing but the place.
COME_NOW_TAIL = r"(快|快点|快来)?$"
# Who to call, beside a number (刘红梅 15912340987, 帮我打给我老婆 18726543310): a name of two to
# four characters, or 打给 and who. (A topic named beside it, 欠薪 13812345678, is not read so.)
WHO_TO_CALL = re.compile(r"^((帮我)?(打给|打电话给|联系|通知|告诉)(我)?[\u4e00-\u9fff]{0,4}|[\u4e00-\u9fff]{2,4})$")
# A name called out after an ellipsis (…王磊, ...陈师傅): someone who can only type who they
# want. A family name and one or two characters, or a title.
ELLIPSIS = re.compile(r"^\s*(…|\.\.\.|。。。|，，，)")
CALLED_NAME = re.compile(r"^([王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶"
                         r"程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝"
                         r"龚邵万钱严覃武戴莫孔向汤][\u4e00-\u9fff]{1,2}|[\u4e00-\u9fff]{1,2}(师傅|哥|姐|叔|姨|总|经理))$")
NOT_NAMES = ("谢谢", "王者", "好吧", "好的", "算了", "方便", "程序", "周末", "马上", "高兴", "江湖", "明白")
# Call me, now (能打给我吗 现在 马上): asked to be called and hurried, nothing else.
CALL_NOW = re.compile(r"(打给我|给我打|打我电话|给我回电话|回我电话|打过来)")
HURRY = ("马上", "立刻", "现在就", "赶紧", "快点", "快")
CALL_NOW_CHARS = 12
# Where the rider is, and nothing else: 我在长沙路 / 定位发不出去 我在高新区天府三街.
PLACE_CHARS = 20
PLACE = re.compile(r"(路口|路|街|大道|大街|巷|桥|桥下|小区|社区|广场|门口|楼下|附近|村|镇|高速|服务区|隧道|地库|停车场|"
                   r"工业园|园区|号楼|单元|\d+号)(那个|这个|这边|那边|旁边|这里|那里)?" + COME_NOW_TAIL)
# 我在武汉光谷这边 快来: where, and come now.
COME_NOW = ("快来", "快点来", "快过来", "马上来")
HERE = ("我在", "我现在在", "定位", "位置", "马上来", "快来", "过来", "帮我", "帮帮我")
# An address down to the door (人民路88号3楼, 锦绣花园7栋1802 快) or a landmark and a side of it
# (望京那个加油站后面) needs no 我在: nobody sends only that as a question, but someone who
# cannot say more sends where to come.
ADDRESS = re.compile(r"(\d+(号|栋|幢|楼|单元|室)\d*|\d+号楼?\d+|\d栋\d+)" + COME_NOW_TAIL + "|"
                     r"(加油站|超市|医院|学校|公园|商场|地铁站|公交站|菜市场|网吧|酒店|饭店|市场|厂)"
                     r"(后面|后边|对面|旁边|门口|里面|后头|背后)" + COME_NOW_TAIL)
# Only exclamation marks (！！！, ……！！): alarm without words. (。。。 and ？？ are a shrug.)
ALARM_MARKS = 2
# Only question marks: two or three are "huh?" (every rider set's writers meant them so); more
# is someone calling out.
CALLING_OUT_MARKS = 4
# A place and nothing else (宝安西乡, 朝阳区望京soho, 杭州下沙 快, 成都双流机场附近): a city or
# province the concepts know, or a word that names a kind of place, and no word that says
# anything about it. (北京天气 says something; 长沙 alone is a place.)
PLACE_ONLY_CHARS = 12
CITY_AND_PLACE_CHARS = 6  # 杭州下沙; a city and more words is about the city (昆明过桥米线推荐一家)
KIND_OF_PLACE = re.compile(r"[区县镇乡村]|机场|车站|地铁|高铁|服务区|广场|大厦|附近")
SAYS_SOMETHING = re.compile(r"[吗呢吧啊呀么嘛了的是有没不我你他她它啥什怎哪谁几多好要想能会去来说问天气雨雪玩吃喝买卖钱烤鸭鸡鱼肉面饭菜茶酒]")
# A plea typed in pinyin and cut off, or half in characters (bangb, jiumi, 快lai, 帮b): its
# sounds are the start of one of these. At least five letters, so that bang or kuai alone is not.
PLEA_SOUNDS = ("jiuming", "jiujiuwo", "jiuwo", "bangbangwo", "bangwo", "bangmang", "kuailai", "kuaijiu",
               "kuaibaojing", "baojing", "qiuqiu", "qiujiu", "lairen", "kuailairen")
PLEA_SOUND_LETTERS = 5
CALLING_WITH_MARKS = re.compile(r"^(有人没|有人吗|有没有人|在吗|在不在|在|喂)+$")


def plea_shape(text: str, cleaned: str, names_a_topic: bool = False, names_a_place: bool = False) -> str:
    """What made the message look like a plea (for the console), or "" when it does not.
    text: as the rider sent it; cleaned: intents.normalise.clean of it; names_a_place: it names a
    city or province the concepts know."""
    if names_a_topic:
        return ""
    if "🆘" in text:
        return "发了求救的符号"
    if not cleaned:
        marks = [ch for ch in text if not ch.isspace()]
        if sum(ch in "!！" for ch in marks) >= ALARM_MARKS:
            return "只有感叹号"
        return "一直在问" if sum(ch in "?？" for ch in marks) >= CALLING_OUT_MARKS else ""
    if number := MOBILE.search(cleaned):
        around = cleaned[:number.start()] + cleaned[number.end():]  # what the number is sent with
        if CALL_ME.match(around):
            return "只有电话号码"
        if WHO_TO_CALL.match(around):
            return "只有电话号码和名字"
    if ELLIPSIS.match(text) and CALLED_NAME.match(cleaned) and cleaned not in NOT_NAMES:
        return "只喊了一个人名"
    if len(cleaned) <= CALL_NOW_CHARS and CALL_NOW.search(cleaned) and any(word in cleaned for word in HURRY):
        return "要马上打电话"
    if CUT_OFF_NUMBER.search(cleaned):
        return "号码没写完"
    if len(cleaned) <= CUT_OFF_CHARS and cleaned.endswith(CUT_OFF_ENDINGS):
        return "话没说完"
    if len(cleaned) <= PLACE_CHARS and (ADDRESS.search(cleaned) or
                                        PLACE.search(cleaned) and any(word in cleaned for word in HERE) or
                                        "我在" in cleaned and cleaned.endswith(COME_NOW)):
        return "只说了在哪"
    if _only_a_place(cleaned, names_a_place):
        return "只说了在哪"
    if len(cleaned) == 1 and cleaned.isascii() and cleaned.isalpha():
        return "只有一个字母"
    if _half_typed_plea(cleaned):
        return "拼音没打完"
    if CALLING_WITH_MARKS.match(cleaned) and sum(ch in "?？!！" for ch in text) >= CALLING_MARKS:
        return "一直在喊人"
    return ""


def _only_a_place(cleaned: str, names_a_place: bool) -> bool:
    words = cleaned.removesuffix("快点").removesuffix("快").strip()
    hurried = words != cleaned
    if KIND_OF_PLACE.search(words):
        longest = PLACE_ONLY_CHARS
    elif names_a_place or hurried:  # 杭州下沙, 龙华 快
        longest = CITY_AND_PLACE_CHARS
    else:
        return False
    return 2 <= len(words) <= longest and not SAYS_SOMETHING.search(words) and not words.isascii()


def _half_typed_plea(cleaned: str) -> bool:
    if not any(ch.isascii() and ch.isalpha() for ch in cleaned) or not all(ch.isalnum() for ch in cleaned):
        return False
    sounds = "".join(lazy_pinyin(cleaned)).lower()
    return len(sounds) >= PLEA_SOUND_LETTERS and any(word.startswith(sounds) for word in PLEA_SOUNDS)
