"""How fast a rider's location is answered from a national-size station directory.

Builds a real SQLite database through Store (the same m010 schema and R*Tree as the server),
fills it with synthetic stations clustered around city centres as real ones are (about
186,000 nationwide by the end of 2024), then times Store.stations_near plus the open-now and
nearest-three selection the bot does, for riders placed near and between cities.

    python bench/stations_bench.py                 # 200,000 stations, 5,000 queries
    python bench/stations_bench.py --stations 2000 --queries 200   # a quick run
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.stations_desk import SHOWN, _has, _open, stations_around  # noqa: E402
from storage import Store  # noqa: E402

# (lat, lng) of large Chinese cities, roughly: the clusters the synthetic stations gather around.
CITIES = [(39.90, 116.40), (31.23, 121.47), (23.13, 113.26), (22.54, 114.06), (29.56, 106.55), (30.57, 104.07),
          (30.59, 114.30), (34.34, 108.94), (32.06, 118.80), (30.27, 120.16), (39.13, 117.20), (36.07, 120.38),
          (41.80, 123.43), (38.04, 114.51), (34.75, 113.62), (28.23, 112.94), (26.07, 119.30), (25.04, 102.71),
          (45.80, 126.53), (43.82, 125.32), (36.65, 117.12), (37.87, 112.55), (31.82, 117.23), (28.68, 115.86),
          (22.82, 108.37), (26.65, 106.63), (20.04, 110.34), (36.06, 103.83), (38.49, 106.23), (43.83, 87.62)]
HOURS = ["24小时", "08:00-20:00", "07:00-22:00", "周一至周五 9:00-18:00", "09:00-21:00"]
SERVICES = ["饮水,如厕,充电", "饮水,休息,热饭", "充电,换电", "饮水,如厕,休息,避雨", "饮水"]


def synthetic(count: int, seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for i in range(count):
        lat0, lng0 = rng.choice(CITIES)
        spread = rng.choice((0.03, 0.08, 0.2, 0.6))  # dense centres, suburbs, towns around
        rows.append({"name": f"站点{i}", "address": f"合成地址{i}", "lat": lat0 + rng.gauss(0, spread),
                     "lng": lng0 + rng.gauss(0, spread), "hours": rng.choice(HOURS), "services": rng.choice(SERVICES),
                     "phone": "", "city": "", "district": "", "updated": "2026-11-01", "open_to_all": 1, "enabled": 1})
    return rows


def nearest(store: Store, lat: float, lng: float, local: dt.datetime, services: tuple[str, ...] = ()) -> list[dict]:
    """What the bot does for a location (bot/stations_desk.py): the stations around, then the
    three nearest open ones with the services asked for."""
    found = stations_around(store, lat, lng, services, local)
    return [r for r in found if _has(r, services) and _open(r, local) is not False][:SHOWN]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--stations", type=int, default=200_000)
    p.add_argument("--queries", type=int, default=5_000)
    p.add_argument("--json", help="write the figures to this file")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="gigdesk-stations-") as folder:
        store = Store(Path(folder) / "gigdesk.db")
        started = time.perf_counter()
        store.import_stations(synthetic(args.stations), "bench", time.time())
        built = time.perf_counter() - started
        rng = random.Random(11)
        local = dt.datetime(2026, 12, 1, 21, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))  # 9 pm
        points = []
        for _ in range(args.queries):
            lat0, lng0 = rng.choice(CITIES)
            spread = rng.choice((0.02, 0.1, 0.5))
            points.append((lat0 + rng.gauss(0, spread), lng0 + rng.gauss(0, spread)))
        for lat, lng in points[:200]:  # warm the page cache, as a running server has
            nearest(store, lat, lng, local)
        times, empty = [], 0
        for i, (lat, lng) in enumerate(points):
            services = ("充电",) if i % 3 == 0 else ()
            t0 = time.perf_counter()
            got = nearest(store, lat, lng, local, services)
            times.append((time.perf_counter() - t0) * 1000)
            empty += not got
        store.close()
    times.sort()
    p50 = statistics.median(times)
    p99 = times[min(len(times) - 1, math.ceil(len(times) * 0.99) - 1)]
    figures = {"stations": args.stations, "queries": args.queries, "import_seconds": round(built, 1),
               "p50_ms": round(p50, 3), "p99_ms": round(p99, 3), "max_ms": round(times[-1], 3),
               "no_station_within_5km": empty}
    print(f"{args.stations:,} stations imported in {built:.1f} s; {args.queries:,} nearest-station queries "
          f"(a third asking for 充电, at 21:00): p50 {p50:.2f} ms, p99 {p99:.2f} ms, max {times[-1]:.2f} ms; "
          f"{empty} found none within 5 km; target p99 < 5 ms: {'met' if p99 < 5 else 'gap'}")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
