"""The union's station directory (bot/stations_desk.py): a location, or a station question in
words. None when it is not one, or the directory is empty (then the FAQ's answer applies)."""
from __future__ import annotations

from bot.conversation.model import Changes, Decision, Reply, Turn
from bot.stations_desk import position_of


def find(turn: Turn) -> Decision | None:
    """A rider still waiting for a person gets it too: after a heat emergency the nearest shade
    matters. Not while a caseworker holds the conversation."""
    desk = turn.engine.stations
    if desk is None or turn.state == "assigned":
        return None
    inbound = turn.inbound
    if inbound.kind == "location":
        position = position_of(inbound.extra)
        said = desk.location(turn.store, turn.conversation, *position, turn.now) if position else None
    else:
        said = desk.text(turn.store, turn.conversation, inbound.channel, inbound.text, turn.now)
    if said is None:
        return None
    text = said.text + ("\n" + turn.render("still_waiting") if turn.state == "waiting" else "")
    changes = Changes({"pending": said.pending}) if said.pending is not None else Changes()
    return Decision(Reply(text, said.outcome, "stations"), changes)
