"""Phrase lists that route a message before the FAQ: danger, asking for a person, greetings.

A phrase "A+B" matches when every part appears in the message; a plain phrase when it
appears anywhere. Both sides are compared after clean(), so 轉人工 and 转人工！ are the same."""
from __future__ import annotations

from collections.abc import Iterable

from intents.normalise import clean


class PhraseSet:
    def __init__(self, phrases: Iterable[str]):
        parsed = (tuple(clean(part) for part in phrase.split("+")) for phrase in phrases)
        self._phrases = tuple(p for p in parsed if all(p))

    def found_in(self, cleaned_text: str) -> str | None:
        """The first phrase found in an already cleaned message, or None."""
        for parts in self._phrases:
            if all(part in cleaned_text for part in parts):
                return "+".join(parts)
        return None

    def is_whole(self, cleaned_text: str) -> bool:
        """The message is nothing but one of the phrases (a bare greeting, a bare thanks),
        allowing trailing particles such as 啊 呀 哈."""
        stripped = cleaned_text.rstrip("啊呀哈呢吧哦噢喔嘛啦了")
        return any(len(parts) == 1 and parts[0] in (cleaned_text, stripped) for parts in self._phrases)
