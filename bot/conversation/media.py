"""Messages without text: a voice WeChat could not transcribe, a location, a picture."""
from __future__ import annotations

from bot.conversation import stations
from bot.conversation.model import WITH_A_PERSON, Decision, Turn
from bot.conversation.outcomes import holding

MEDIA = ("image", "video", "shortvideo", "link", "file")


def decide(turn: Turn) -> Decision:
    kind = turn.inbound.kind
    if kind == "voice":
        return Decision(turn.say("voice_unrecognised", "voice_unrecognised"))
    if kind == "location" and (found := stations.find(turn)):
        return found
    if turn.state in WITH_A_PERSON:
        return holding(turn)
    if kind in MEDIA:
        return Decision(turn.say("media_received", "media_received"))
    if kind == "location":
        return Decision(turn.say("location", "location"))
    return Decision(None)  # unknown message types: WeChat gets "success"
