"""Messages typed in pinyin ("bei ren gen le yi lu", "zhongshu le kuai yun le", "jiu wo"): a
rider with shaking hands, or on a phone without a Chinese keyboard, types the sounds. Every
check reads 汉字, so the words the knowledge files know (danger concepts, requests for a person,
the lexicon) are found by their toneless pinyin and written back in characters; the rest of
the message stays as it was typed. Pure code: pypinyin supplies the pronunciations.

Only words of two syllables or more are written back: one syllable is too ambiguous (xue is
血 or 学, dao is 刀 or 到)."""
from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable

from pypinyin import Style, lazy_pinyin
from pypinyin.pinyin_dict import pinyin_dict

MIN_SYLLABLES = 2
LONGEST_SYLLABLE = 6  # zhuang, chuang, shuang
LONGEST_WORD = 8  # syllables
# A message is read as pinyin when its Latin letters are most of what it says and almost all of
# them are pinyin syllables: "help me" and "xswl" are not.
LETTER_SHARE = 0.6
PINYIN_SHARE = 0.8
MIN_LETTERS = 4
CHUNKS = re.compile(r"[a-z]+|[^a-z]+")
LATIN = re.compile(r"[A-Za-zＡ-Ｚａ-ｚ]")


@functools.lru_cache(maxsize=1)
def syllables() -> frozenset[str]:
    """Every toneless syllable of Mandarin, as typed (ü as v or u)."""
    found: set[str] = set()
    for readings in pinyin_dict.values():
        for reading in readings.split(","):
            found.update(_typed(reading))
    return frozenset(s for s in found if s.isascii() and s.isalpha())


def _typed(reading: str) -> set[str]:
    spelled = unicodedata.normalize("NFD", reading).replace("u\u0308", "v")  # ü is typed v (or u)
    plain = "".join(ch for ch in spelled if not unicodedata.combining(ch))
    return {plain, plain.replace("v", "u")}


def segment(letters: str) -> list[str] | None:
    """letters as the fewest pinyin syllables (jiuming: jiu ming), or None when they are not pinyin."""
    known = syllables()
    best: list[list[str] | None] = [[]] + [None] * len(letters)
    for end in range(1, len(letters) + 1):
        for size in range(1, min(LONGEST_SYLLABLE, end) + 1):
            before = best[end - size]
            if before is not None and letters[end - size:end] in known and \
                    (best[end] is None or len(before) + 1 < len(best[end])):
                best[end] = before + [letters[end - size:end]]
    return best[len(letters)]


class PinyinReader:
    def __init__(self, words: Iterable[str]):
        """words: the vocabulary to recognise, most important first (a later word with the same
        sounds does not replace an earlier one)."""
        self._words: dict[tuple[str, ...], str] = {}
        for word in words:
            if not word or not all("\u4e00" <= ch <= "\u9fff" for ch in word):
                continue
            sounds = tuple(lazy_pinyin(word, style=Style.NORMAL, v_to_u=False))
            if len(sounds) >= MIN_SYLLABLES:
                for variant in _spellings(sounds):
                    self._words.setdefault(variant, word)

    def read(self, text: str) -> str | None:
        """The message with its known words in characters, or None when it is not typed in pinyin."""
        if len(LATIN.findall(text)) < MIN_LETTERS:  # most messages: 汉字 only, decided at once
            return None
        lowered = unicodedata.normalize("NFKC", text).lower()
        letters = sum(ch.isascii() and ch.isalpha() for ch in lowered)
        meaningful = sum(unicodedata.category(ch)[0] in "LN" for ch in lowered)
        if letters < MIN_LETTERS or letters < LETTER_SHARE * meaningful:
            return None
        tokens: list[str] = []
        pinyin_letters = 0
        for chunk in CHUNKS.findall(lowered):
            sounds = segment(chunk) if chunk.isascii() and chunk.isalpha() else None
            if sounds:
                pinyin_letters += len(chunk)
                tokens.extend(sounds)
            elif any(unicodedata.category(ch)[0] in "LN" for ch in chunk):  # spaces and commas only part
                tokens.append(chunk)
        if pinyin_letters < PINYIN_SHARE * letters:
            return None
        return self._write_back(tokens)

    def _write_back(self, tokens: list[str]) -> str:
        out: list[str] = []
        i = 0
        while i < len(tokens):
            for size in range(min(LONGEST_WORD, len(tokens) - i), MIN_SYLLABLES - 1, -1):
                word = self._words.get(tuple(tokens[i:i + size]))
                if word is not None:
                    out.append(word)
                    i += size
                    break
            else:
                out.append(tokens[i] + " ")
                i += 1
        return "".join(out)


def _spellings(sounds: tuple[str, ...]) -> set[tuple[str, ...]]:
    """The ways a rider may type these sounds: ü as v or as u (lv / lu)."""
    return {sounds, tuple(s.replace("v", "u") for s in sounds)}
