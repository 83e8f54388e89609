"""Cutting long texts into parts that fit a channel's limit, on line and character boundaries,
so nothing is lost and no character is cut in half (WeChat counts UTF-8 bytes)."""
from __future__ import annotations


def utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def cut_to_bytes(text: str, limit: int) -> tuple[str, str]:
    """The longest prefix within limit bytes (whole characters only), and the rest."""
    encoded = text.encode("utf-8")
    if len(encoded) <= limit:
        return text, ""
    head = encoded[:limit].decode("utf-8", errors="ignore")  # drops a split last character
    return head, text[len(head):]


def split_to_bytes(text: str, limit: int) -> list[str]:
    """Parts of at most limit bytes each, preferring to break between lines."""
    if limit <= 0:
        raise ValueError("limit must be positive")
    parts: list[str] = []
    current = ""
    for line in text.splitlines(keepends=True):
        if utf8_len(current + line) <= limit:
            current += line
            continue
        if current:
            parts.append(current)
            current = ""
        while utf8_len(line) > limit:
            head, line = cut_to_bytes(line, limit)
            parts.append(head)
        current = line
    if current or not parts:
        parts.append(current)
    return [p.strip("\n") for p in parts if p.strip()] or [""]
