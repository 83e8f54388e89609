"""Answers riders from the union's station directory: a location (WeChat's, or the web chat's
browser position) gets the nearest open stations; 附近驿站 / 哪里能充电 without a location
asks for one, or is answered from a district or street named; 能充电的 narrows the last answer.

It reads the table on every question (the R*Tree makes that cheap), so an import or a console
edit is served at once. An empty directory answers nothing here: the engine then gives today's
answer (the map search). It only reads: what it remembers for the next message (the position,
the services asked for) is returned in Said.pending for the engine to store."""
from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from knowledge.loader import load_station_wording
from knowledge.model import compiled
from stations.asking import asks_for_station, clean, looks_like_place, place_words
from stations.geo import describe_distance, ebike_minutes, navigation_link
from stations.hours import HoursError, parse_hours
from stations.services import services_in, join
from storage import Store


@functools.lru_cache(maxsize=20_000)
def _read_for_stations(text: str) -> tuple[bool, tuple[str, ...], int]:
    """What every message is checked for (words only, no database): remembered per text, as
    the Brain remembers its reading, since every rider's message passes here."""
    return asks_for_station(text), services_in(text), len(clean(text))


log = logging.getLogger("gigdesk.stations")
PACKAGED = Path(__file__).resolve().parent.parent / "knowledge" / "stations.yaml"
NEAR_METRES = 5000  # "nothing near": beyond this the map search is the better help
RADII = (500, 1000, 2500, NEAR_METRES)  # searched in turn until three open stations are found
SHOWN = 3
# The rider's position is kept (rounded to about 100 m) only to read 能充电的 after an answer.
POSITION_SECONDS = 1800
POSITION_DECIMALS = 3
@dataclass(frozen=True)
class Said:
    text: str
    outcome: str  # stations | stations_none | stations_ask | stations_place
    pending: dict[str, Any] | None = None  # the conversation's pending state to keep; None: unchanged


class StationDesk:
    def __init__(self, knowledge_dir: str | Path, timezone: str, context: dict[str, Any],
                 include_samples: bool = False):
        given = Path(knowledge_dir) / "stations.yaml"
        self.path = given if given.exists() else PACKAGED
        self.zone = ZoneInfo(timezone)
        self.context = context
        self.include_samples = include_samples
        self._stamp: tuple[int, int] | None = None
        self._wording: dict[str, str] = {}
        self._reload()
        if not self._wording:
            raise ValueError(f"{self.path}: cannot be read")

    # --- wording -----------------------------------------------------------------------------
    def _reload(self) -> None:
        """Re-read the wording when the file changed; a broken edit keeps the last good one."""
        try:
            st = self.path.stat()
        except OSError:
            return
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp == self._stamp:
            return
        self._stamp = stamp
        try:
            self._wording = load_station_wording(self.path)
        except (OSError, ValueError, yaml.YAMLError) as exc:
            log.error("station wording not reloaded, still using the last good version: %s", exc)

    def _say(self, message: str, **values: Any) -> str:
        return compiled(self._wording[message]).render({**self.context, **values}).strip()

    # --- the engine's entry points -----------------------------------------------------------
    def location(self, store: Store, conversation: dict[str, Any], lat: float, lng: float, now: float) -> Said | None:
        """A rider's position (GCJ-02): the nearest stations, or None for an empty directory."""
        if not store.station_count(self.include_samples):
            return None
        self._reload()
        pending = self._pending(conversation, now)
        services = tuple(pending.get("services") or ())
        said = self._nearest(store, lat, lng, services, now)
        return self._remember(said, conversation, now, lat=round(lat, POSITION_DECIMALS), lng=round(lng, POSITION_DECIMALS))

    def text(self, store: Store, conversation: dict[str, Any], channel: str, text: str, now: float) -> Said | None:
        """A station question in words, or None when the message is not one (or the directory is
        empty) and the rest of the engine should read it."""
        pending = self._pending(conversation, now)
        asks, services, length = _read_for_stations(text)
        follows = bool(pending) and (services or asks or looks_like_place(text))
        if not (asks or follows) or length > 60:
            return None
        if not store.station_count(self.include_samples):
            return None
        self._reload()
        place = self._place(store, text)
        if place is not None:
            return self._by_place(store, conversation, now, *place, services)
        if pending.get("lat") is not None and (services or asks):
            return self._nearest(store, pending["lat"], pending["lng"], services, now)
        if looks_like_place(text) and not asks:
            return Said(self._say("place_unknown", place=clean(text)), "stations_place")
        name = "ask_location_web" if channel == "web" else "ask_location"
        return self._remember(Said(self._say(name, services=join(services)), "stations_ask"), conversation, now,
                              ask=True, services=list(services))

    # --- answers -----------------------------------------------------------------------------
    def _nearest(self, store: Store, lat: float, lng: float, services: tuple[str, ...], now: float) -> Said:
        local = dt.datetime.fromtimestamp(now, self.zone)
        found = stations_around(store, lat, lng, services, local, self.include_samples)
        wanted = [r for r in found if _has(r, services)]
        none_with_services = bool(services) and not wanted
        candidates = found if none_with_services else wanted
        if not candidates:
            return Said(self._say("none_near"), "stations_none")
        open_ones = [r for r in candidates if _open(r, local) is not False][:SHOWN]
        samples = any(r["sample"] for r in candidates[:SHOWN * 2])
        if not open_ones:
            items = [self._item(i, r, local) for i, r in enumerate(candidates[:2], 1)]
            return Said(self._mark(self._say("all_closed", stations=items), samples), "stations_none")
        closed_first = candidates[0] if _open(candidates[0], local) is False else None
        closer_closed = ({"name": closed_first["name"], "distance": describe_distance(closed_first["distance"]),
                          "hours": closed_first["hours"]} if closed_first else None)
        items = [self._item(i, r, local) for i, r in enumerate(open_ones, 1)]
        text = self._say("found", stations=items, services=join(services), none_with_services=none_with_services,
                         closer_closed=closer_closed)
        return Said(self._mark(text, samples), "stations")

    def _by_place(self, store: Store, conversation: dict[str, Any], now: float, label: str,
                  rows: list[dict[str, Any]], services: tuple[str, ...]) -> Said:
        local = dt.datetime.fromtimestamp(now, self.zone)
        wanted = [r for r in rows if _has(r, services)] or rows
        # Open ones first: a rider at 9 pm needs the door that is open.
        wanted.sort(key=lambda r: (_open(r, local) is False, _open(r, local) is None, r["name"]))
        items = [self._item(i, r, local) for i, r in enumerate(wanted[:SHOWN], 1)]
        text = self._say("place_found", place=label, services=join(services) if wanted is not rows else "",
                         total=len(wanted), stations=items)
        said = Said(self._mark(text, any(r["sample"] for r in wanted[:SHOWN])), "stations_place")
        return self._remember(said, conversation, now, ask=True, services=list(services))

    def _item(self, n: int, row: dict[str, Any], local: dt.datetime) -> str:
        distance = row.get("distance")
        return self._say("station_item", n=n, name=row["name"], address=row["address"] or "",
                         distance=describe_distance(distance) if distance is not None else "",
                         minutes=ebike_minutes(distance) if distance is not None else "",
                         hours=row["hours"] or "", status=self._status(row, local),
                         services=join([s for s in (row["services"] or "").split(",") if s]),
                         restricted=not row["open_to_all"], phone=row["phone"] or "",
                         link=navigation_link(row["lat"], row["lng"], row["name"]))

    def _status(self, row: dict[str, Any], local: dt.datetime) -> str:
        hours = _hours(row)
        if hours is None or not hours.known:
            return self._say("status_unknown")
        if not hours.is_open(local):
            return self._say("status_closed")
        closing = hours.closes_within(local, 60)
        return self._say("status_closing", minutes=closing) if closing is not None else self._say("status_open")

    def _mark(self, text: str, samples: bool) -> str:
        return text + "\n" + self._say("sample_notice") if samples else text

    # --- places and memory --------------------------------------------------------------------
    def _place(self, store: Store, text: str) -> tuple[str, list[dict[str, Any]]] | None:
        """(the place as the rider named it, its stations) for a district, city or street that the
        directory knows; None when the message names none."""
        t = clean(text)
        area_rows: list[dict[str, Any]] | None = None
        label = ""
        for place in sorted(store.station_places(self.include_samples),
                            key=lambda p: -len(p["district"] or "")):
            for column in ("district", "city"):
                name = place[column] or ""
                short = name.rstrip("区县市") if len(name.rstrip("区县市")) >= 2 else name
                if name and (name in t or short in t):
                    label = name
                    t = t.replace(name, " ").replace(short, " ")
                    area_rows = [r for r in store.search_stations(name, enabled_only=True,
                                                                  include_samples=self.include_samples)
                                 if r[column] == name]
                    break
            if area_rows is not None:
                break
        for word in place_words(t)[:3]:
            pool = [r for r in (area_rows if area_rows is not None else
                                store.search_stations(word, enabled_only=True, include_samples=self.include_samples))
                    if word in (r["name"] or "") + (r["address"] or "")]
            if pool:
                return (label + word), pool
        if area_rows:
            return label, area_rows
        return None

    def _pending(self, conversation: dict[str, Any], now: float) -> dict[str, Any]:
        pending = json.loads(conversation.get("pending") or "{}")
        return open_station_question(pending if isinstance(pending, dict) else {}, now)

    def _remember(self, said: Said, conversation: dict[str, Any], now: float, **values: Any) -> Said:
        """said, with what to keep for the next message (能充电的 narrows this answer)."""
        current = self._pending(conversation, now)
        return dataclasses.replace(said, pending={"stations": {**current, **values, "at": now}})


def open_station_question(pending: dict[str, Any], now: float) -> dict[str, Any]:
    """What the desk keeps from its last station reply (a position asked for or given, the
    services asked), while it still holds; {} after POSITION_SECONDS or when there is none."""
    mine = pending.get("stations")
    if not isinstance(mine, dict) or now - float(mine.get("at", 0)) > POSITION_SECONDS:
        return {}
    return mine


def stations_around(store: Store, lat: float, lng: float, services: tuple[str, ...], local: dt.datetime,
                    include_samples: bool = False) -> list[dict[str, Any]]:
    """The stations a location is answered from, nearest first: the radius widens (RADII)
    until three are open now with the services asked for (bench/stations_bench.py times this)."""
    found: list[dict[str, Any]] = []
    for radius in RADII:
        found = store.stations_near(lat, lng, radius, include_samples)
        if len([r for r in found if _has(r, services) and _open(r, local) is not False]) >= SHOWN:
            break
    return found


def _has(row: dict[str, Any], services: tuple[str, ...]) -> bool:
    have = set((row["services"] or "").split(","))
    return all(s in have for s in services)


@functools.lru_cache(maxsize=4096)
def _parsed_hours(text: str):
    # A national directory has a few hundred distinct ways of writing hours: parse each once
    # (bench/stations_bench.py: this was most of a query's time in a dense city centre).
    try:
        return parse_hours(text)
    except HoursError:  # edited outside the checks: shown as written, never as "open"
        return None


def _hours(row: dict[str, Any]):
    return _parsed_hours(row["hours"] or "")


def _open(row: dict[str, Any], local: dt.datetime) -> bool | None:
    hours = _hours(row)
    return hours.is_open(local) if hours is not None else None


def position_of(extra: dict[str, Any]) -> tuple[float, float] | None:
    """WeChat's Location_X (latitude) and Location_Y (longitude), when both are numbers in range."""
    try:
        lat, lng = float(extra["Location_X"]), float(extra["Location_Y"])
    except (KeyError, TypeError, ValueError):
        return None
    if not (-90 <= lat <= 90 and -180 <= lng <= 180) or lat != lat or lng != lng:
        return None
    return lat, lng
