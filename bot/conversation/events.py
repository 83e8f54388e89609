"""WeChat events: a follow is welcomed, an unfollow recorded, a menu click answered."""
from __future__ import annotations

from bot.conversation.model import Changes, Decision, Turn
from bot.conversation.outcomes import answer

# wechatpy renames a subscribe from a QR code (subscribe_scan) or a product page
# (EventKey scanbarcode|… or scanimage|…: subscribe_scan_product); all are welcomed.
SUBSCRIBE = ("subscribe", "subscribe_scan", "subscribe_scan_product")


def decide(turn: Turn) -> Decision | None:
    inbound = turn.inbound
    if inbound.kind != "event":
        return None
    if inbound.event in SUBSCRIBE:
        return Decision(turn.say("welcome", "welcome"), Changes(subscribed=True))
    if inbound.event == "unsubscribe":  # the rider can no longer receive anything
        return Decision(None, Changes(subscribed=False))
    if inbound.event == "click":
        kb = turn.brain.kb
        entry = kb.entry(kb.menu.get(inbound.event_key, ""))
        if entry is None:
            return Decision(turn.say("welcome", "menu_unknown"))
        return answer(turn, entry, None, "menu")
    if inbound.event == "scancode_waitmsg":  # WeChat shows 消息接收中 until it gets a reply
        return Decision(turn.say("scan_received", "scan_received"))
    return Decision(None)  # VIEW, SCAN, LOCATION reports and unknown events need no reply
