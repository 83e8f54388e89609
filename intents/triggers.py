"""Phrase lists that route a message before the FAQ: danger, asking for a person, greetings.

A phrase "A+B" matches when every part appears in the message; a plain phrase when it
appears anywhere; "=A" only when the whole message is A (for words like 人工 that also
occur inside other words: 没有劳动合同的人工会要不要). Both sides are compared after
clean(), so 轉人工 and 转人工！ are the same."""
from __future__ import annotations

import re
from collections.abc import Iterable

from intents.normalise import clean


PARTICLES = "啊呀哈呢吧哦噢喔嘛啦了"


class PhraseSet:
    def __init__(self, phrases: Iterable[str]):
        whole, anywhere = [], []
        for phrase in phrases:
            if phrase.startswith("="):
                whole.append(clean(phrase[1:]))
            else:
                anywhere.append(tuple(clean(part) for part in phrase.split("+")))
        self._anywhere = tuple(p for p in anywhere if all(p))
        self._whole = frozenset(w for w in whole if w) | {p[0] for p in self._anywhere if len(p) == 1}
        # Every message is checked against every list before the FAQ is consulted, and nearly
        # none contains a trigger: one regex search over the phrases' first parts rules most
        # messages out at once (a phrase can only match where its first part occurs).
        firsts = sorted({p[0] for p in self._anywhere}, key=len, reverse=True)
        self._first_parts = re.compile("|".join(map(re.escape, firsts))) if firsts else None
        self._longest_whole = max(map(len, self._whole), default=0)

    def found_in(self, cleaned_text: str) -> str | None:
        """The first phrase found in an already cleaned message, or None."""
        if self.is_whole(cleaned_text):
            return cleaned_text
        if self._first_parts is None or not self._first_parts.search(cleaned_text):
            return None
        for parts in self._anywhere:
            if all(part in cleaned_text for part in parts):
                return "+".join(parts)
        return None

    def is_whole(self, cleaned_text: str) -> bool:
        """The message is nothing but one of the phrases, maybe repeated (人工人工人工) and
        with trailing particles such as 啊 呀 哈."""
        text = cleaned_text.rstrip(PARTICLES) or cleaned_text
        if not text:
            return False
        if text in self._whole or cleaned_text in self._whole:
            return True
        # Repeated: text is w * k, so w is text's first len(w) characters and len(w) divides it.
        n = len(text)
        return any(n % size == 0 and text[:size] in self._whole and text[:size] * (n // size) == text
                   for size in range(1, min(n, self._longest_whole) + 1))
