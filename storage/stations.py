"""The rest-station directory (part of Store; see storage.store): the stations table, its
R*Tree index kept in step on every write, nearest queries, imports with their diff, and the
history of every change (who, when, before and after), as for FAQ edits. Tables: m010."""
from __future__ import annotations

import json
import math
from typing import Any

from storage.sql import Connection

from stations.geo import bounding_box, haversine_m

FIELDS = ("name", "address", "lat", "lng", "hours", "services", "phone", "city", "district", "updated",
          "open_to_all", "enabled")
ACTIONS = ("create", "edit", "disable", "enable", "import")
# A nearest query looks at this many stations at most, nearest first: enough to find three open
# ones with the service asked for anywhere but a directory far denser than any city's.
NEAR_LIMIT = 200


def _rows(cursor) -> list[dict[str, Any]]:
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def _public(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row.get(k) for k in ("id", *FIELDS, "sample", "changed_at")}


class StationDirectory:
    db: Connection

    # --- reading ------------------------------------------------------------------------------
    def station_count(self, include_samples: bool = False) -> int:
        sql = "SELECT COUNT(*) FROM stations WHERE enabled = 1" + ("" if include_samples else " AND sample = 0")
        return self.db.execute(sql).fetchone()[0]

    def stations_near(self, lat: float, lng: float, metres: float, include_samples: bool = False,
                      limit: int = NEAR_LIMIT) -> list[dict[str, Any]]:
        """Enabled stations within `metres`, nearest first, each with its "distance" in metres;
        at most `limit`. The R*Tree narrows to a box, SQLite orders the box by a flat-earth
        distance (exact enough to pick the nearest few hundred) so that only those become
        rows here, and the exact distance decides."""
        min_lat, max_lat, min_lng, max_lng = bounding_box(lat, lng, metres)
        stretch = math.cos(math.radians(lat)) ** 2  # a degree of longitude is shorter away from the equator
        cursor = self.db.execute(
            "SELECT s.* FROM station_boxes b JOIN stations s ON s.id = b.id"
            " WHERE b.min_lat <= ? AND b.max_lat >= ? AND b.min_lng <= ? AND b.max_lng >= ?"
            " AND s.enabled = 1" + ("" if include_samples else " AND s.sample = 0") +
            " ORDER BY (b.min_lat - ?) * (b.min_lat - ?) + (b.min_lng - ?) * (b.min_lng - ?) * ? LIMIT ?",
            [max_lat, min_lat, max_lng, min_lng, lat, lat, lng, lng, stretch, limit])
        found = []
        for row in _rows(cursor):
            distance = haversine_m(lat, lng, row["lat"], row["lng"])
            if distance <= metres:
                found.append({**row, "distance": distance})
        found.sort(key=lambda r: r["distance"])
        return found

    def search_stations(self, words: str = "", limit: int = 200, enabled_only: bool = False,
                        include_samples: bool = True, offset: int = 0) -> list[dict[str, Any]]:
        """Stations whose name, address, city or district contains every word (the console's
        search, and a rider's 我在朝阳区望京)."""
        where, args = [], []
        like = "LIKE" if self.db.dialect == "sqlite" else "ILIKE"  # SQLite's LIKE ignores ASCII case
        for word in words.split():
            pattern = "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            where.append(f"(name {like} ? ESCAPE '\\' OR address {like} ? ESCAPE '\\' OR city {like} ? ESCAPE '\\'"
                         f" OR district {like} ? ESCAPE '\\')")
            args += [pattern] * 4
        if enabled_only:
            where.append("enabled = 1")
        if not include_samples:
            where.append("sample = 0")
        sql = ("SELECT * FROM stations" + (" WHERE " + " AND ".join(where) if where else "")
               + " ORDER BY city, district, name LIMIT ? OFFSET ?")
        return _rows(self.db.execute(sql, [*args, limit, offset]))

    def station_places(self, include_samples: bool = False) -> list[dict[str, Any]]:
        """Every city and district with enabled stations, for reading a place out of a message."""
        sql = ("SELECT city, district, COUNT(*) AS n FROM stations WHERE enabled = 1"
               + ("" if include_samples else " AND sample = 0") + " GROUP BY city, district")
        return _rows(self.db.execute(sql))

    def station(self, station_id: int) -> dict[str, Any] | None:
        rows = _rows(self.db.execute("SELECT * FROM stations WHERE id = ?", [station_id]))
        return rows[0] if rows else None

    def all_stations(self, include_samples: bool = False) -> list[dict[str, Any]]:
        sql = "SELECT * FROM stations" + ("" if include_samples else " WHERE sample = 0") + " ORDER BY id"
        return _rows(self.db.execute(sql))

    def stale_stations(self, before: str, limit: int = 200) -> tuple[int, list[dict[str, Any]]]:
        """Enabled real stations whose `updated` date is before `before` (YYYY-MM-DD), oldest first."""
        where = "enabled = 1 AND sample = 0 AND (updated IS NULL OR updated = '' OR updated < ?)"
        total = self.db.execute(f"SELECT COUNT(*) FROM stations WHERE {where}", [before]).fetchone()[0]
        rows = _rows(self.db.execute(f"SELECT * FROM stations WHERE {where} ORDER BY updated, id LIMIT ?",
                                     [before, limit]))
        return total, rows

    def station_changes(self, station_id: int | None = None, limit: int = 100) -> list[dict[str, Any]]:
        if station_id is None:
            return _rows(self.db.execute("SELECT * FROM station_changes ORDER BY id DESC LIMIT ?", [limit]))
        return _rows(self.db.execute("SELECT * FROM station_changes WHERE station_id = ? ORDER BY id DESC LIMIT ?",
                                     [station_id, limit]))

    # --- writing ------------------------------------------------------------------------------
    def _put_station(self, fields: dict[str, Any], now: float, station_id: int | None = None,
                     sample: int = 0) -> int:
        values = {k: fields[k] for k in FIELDS}
        if station_id is None:
            names = [*FIELDS, "sample", "changed_at"]
            station_id = self.db.execute(
                f"INSERT INTO stations ({', '.join(names)}) VALUES ({', '.join('?' * len(names))}) RETURNING id",
                [*values.values(), sample, now]).fetchone()[0]
        else:
            self.db.execute(f"UPDATE stations SET {', '.join(f'{k} = ?' for k in FIELDS)}, changed_at = ? WHERE id = ?",
                            [*values.values(), now, station_id])
        # SQLite's R*Tree takes no UPSERT (virtual tables do not); PostgreSQL's plain table does.
        replace = ("INSERT OR REPLACE INTO" if self.db.dialect == "sqlite" else "INSERT INTO")
        upsert = "" if self.db.dialect == "sqlite" else (
            " ON CONFLICT (id) DO UPDATE SET min_lat = excluded.min_lat, max_lat = excluded.max_lat,"
            " min_lng = excluded.min_lng, max_lng = excluded.max_lng")
        self.db.execute(f"{replace} station_boxes (id, min_lat, max_lat, min_lng, max_lng) VALUES (?, ?, ?, ?, ?)"
                        + upsert, [station_id, values["lat"], values["lat"], values["lng"], values["lng"]])
        return station_id

    def _record_station_change(self, at: float, actor: str, action: str, station_id: int,
                               before: dict | None, after: dict | None) -> int:
        assert action in ACTIONS, action
        return self.db.execute(
            "INSERT INTO station_changes (at, actor, action, station_id, before, after) VALUES (?, ?, ?, ?, ?, ?)"
            " RETURNING id",
            [at, actor, action, station_id, json.dumps(_public(before), ensure_ascii=False) if before else "",
             json.dumps(_public(after), ensure_ascii=False) if after else ""]).fetchone()[0]

    def save_station(self, fields: dict[str, Any], actor: str, now: float,
                     station_id: int | None = None) -> dict[str, Any]:
        """Create (no id) or edit one station, with its history and audit entry. Raises
        LookupError for an unknown id and ValueError when another station has the same name and
        address."""
        with self.db.atomic():
            before = self.station(station_id) if station_id is not None else None
            if station_id is not None and before is None:
                raise LookupError(station_id)
            same = self.db.execute("SELECT id FROM stations WHERE name = ? AND address = ?",
                                   [fields["name"], fields["address"]]).fetchone()
            if same and same[0] != station_id:
                raise ValueError(same[0])
            new_id = self._put_station(fields, now, station_id)
            after = self.station(new_id)
            if before is None:
                action = "create"
            elif before["enabled"] != after["enabled"] and all(before[k] == after[k] for k in FIELDS if k != "enabled"):
                action = "enable" if after["enabled"] else "disable"
            else:
                action = "edit"
            change = self._record_station_change(now, actor, action, new_id, before, after)
            self.audit(actor, f"station_{action}", f"station:{new_id}", now, change=change)  # type: ignore[attr-defined]
        return after

    def import_stations(self, rows: list[dict[str, Any]], actor: str, now: float, *, replace: bool = False,
                        dry_run: bool = False) -> dict[str, Any]:
        """Add new stations and update changed ones (the same name and address is the same
        station); with replace, stations missing from the file are disabled. Either all of it
        or, with dry_run, none of it: the diff is returned either way, for the preview."""
        diff: dict[str, Any] = {"added": [], "changed": [], "unchanged": 0, "disabled": []}
        existing = {(r["name"], r["address"]): r for r in self.all_stations()}
        seen = set()
        with self.db.atomic():
            if not dry_run:  # a real list replaces demo mode's examples
                self.db.execute("DELETE FROM station_boxes WHERE id IN (SELECT id FROM stations WHERE sample = 1)")
                self.db.execute("DELETE FROM stations WHERE sample = 1")
            for fields in rows:
                key = (fields["name"], fields["address"])
                seen.add(key)
                before = existing.get(key)
                if before is None:
                    diff["added"].append({k: fields[k] for k in FIELDS})
                    if not dry_run:
                        new_id = self._put_station(fields, now)
                        self._record_station_change(now, actor, "import", new_id, None, self.station(new_id))
                    continue
                changed = [k for k in FIELDS if _differs(before[k], fields[k])]
                if not changed:
                    diff["unchanged"] += 1
                    continue
                diff["changed"].append({"id": before["id"], "name": before["name"], "fields": changed,
                                        "before": {k: before[k] for k in changed},
                                        "after": {k: fields[k] for k in changed}})
                if not dry_run:
                    self._put_station(fields, now, before["id"])
                    self._record_station_change(now, actor, "import", before["id"], before, self.station(before["id"]))
            if replace:
                for key, before in existing.items():
                    if key not in seen and before["enabled"]:
                        diff["disabled"].append({"id": before["id"], "name": before["name"]})
                        if not dry_run:
                            self._put_station({**before, "enabled": 0}, now, before["id"])
                            self._record_station_change(now, actor, "import", before["id"], before,
                                                        self.station(before["id"]))
            if not dry_run:
                self.audit(actor, "station_import", "stations", now,  # type: ignore[attr-defined]
                           added=len(diff["added"]), changed=len(diff["changed"]), disabled=len(diff["disabled"]))
        return diff

    def load_sample_stations(self, rows: list[dict[str, Any]], now: float) -> int:
        """Demo mode's example set, marked sample, into an empty directory only."""
        with self.db.atomic():
            if self.db.execute("SELECT COUNT(*) FROM stations").fetchone()[0]:
                return 0
            for fields in rows:
                self._put_station(fields, now, sample=1)
        return len(rows)


def _differs(old: Any, new: Any) -> bool:
    if isinstance(old, float) or isinstance(new, float):
        return abs(float(old or 0) - float(new or 0)) > 1e-7
    return (old if old is not None else "") != (new if new is not None else "")
