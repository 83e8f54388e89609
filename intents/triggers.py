"""Phrase lists that route a message before the FAQ: danger, asking for a person, greetings.

A phrase "A+B" matches when every part appears in the message; a plain phrase when it
appears anywhere; "=A" only when the whole message is A (for words like 人工 that also
occur inside other words: 没有劳动合同的人工会要不要). Both sides are compared after
clean(), so 轉人工 and 转人工！ are the same."""
from __future__ import annotations

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

    def found_in(self, cleaned_text: str) -> str | None:
        """The first phrase found in an already cleaned message, or None."""
        if self.is_whole(cleaned_text):
            return cleaned_text
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
        return any(len(text) % len(w) == 0 and w * (len(text) // len(w)) == text for w in self._whole)
