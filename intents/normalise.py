"""Text normalisation: the same rider question typed a dozen ways should come out the same.

Steps, in order: Unicode NFKC (full-width letters, digits and punctuation to half-width),
traditional to simplified Chinese (OpenCC), lower case, then everything that is not a letter
or a digit (punctuation, emoji, spaces) is dropped, and declared synonyms are replaced by
their canonical word (longest variant first, so 外卖小哥 wins over 小哥)."""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from functools import lru_cache

import opencc


@lru_cache(maxsize=1)
def _t2s() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


def _keep(ch: str) -> bool:
    # Letters (L*) and digits (N*) carry meaning; punctuation (P*), symbols and emoji (S*),
    # spaces (Z*) and control or format characters (C*, e.g. emoji joiners) do not.
    return unicodedata.category(ch)[0] in "LN"


def clean(text: str) -> str:
    """Unicode, script and punctuation normalisation, without synonyms."""
    text = unicodedata.normalize("NFKC", text)
    text = _t2s().convert(text).lower()
    return "".join(ch for ch in text if _keep(ch))


class Normaliser:
    """clean() plus the synonyms declared in the knowledge files (variant -> canonical)."""

    def __init__(self, synonyms: Mapping[str, str] | None = None):
        pairs = {clean(v): clean(c) for v, c in (synonyms or {}).items()}
        self._synonyms = {v: c for v, c in pairs.items() if v and v != c}
        if self._synonyms:
            alternatives = sorted(self._synonyms, key=len, reverse=True)
            self._pattern: re.Pattern[str] | None = re.compile("|".join(map(re.escape, alternatives)))
        else:
            self._pattern = None

    def __call__(self, text: str) -> str:
        return self.replace(clean(text))

    def replace(self, cleaned: str) -> str:
        """The synonyms replaced in a text clean() has already folded."""
        if self._pattern is None:
            return cleaned
        return self._pattern.sub(lambda m: self._synonyms[m.group(0)], cleaned)
