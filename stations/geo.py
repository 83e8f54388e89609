"""Distances, coordinate systems and map links.

Chinese map apps and WeChat's location messages use GCJ-02, the obfuscated datum Chinese law
requires for published maps; a browser's navigator.geolocation gives WGS-84. The two differ by
a few hundred metres, enough to send a rider down the wrong street, so the web chat's position
is converted before it is compared with the directory (which is in GCJ-02, as the union's map
pins are)."""
from __future__ import annotations

import math
from urllib.parse import quote

EARTH_RADIUS_M = 6371008.8  # mean radius (IUGG)
# An e-bike in city traffic: about 15 km/h door to door (lights, crossings, walking it in).
EBIKE_KMH = 15.0
# Krasovsky 1940 ellipsoid, as the GCJ-02 transform uses.
_A = 6378245.0
_EE = 0.00669342162296594323


def haversine_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def ebike_minutes(metres: float) -> int:
    """Roughly how many minutes by e-bike, at least 1."""
    return max(1, round(metres / (EBIKE_KMH * 1000 / 60)))


def bounding_box(lat: float, lng: float, metres: float) -> tuple[float, float, float, float]:
    """(min_lat, max_lat, min_lng, max_lng) of a square that holds the circle of that radius."""
    dlat = math.degrees(metres / EARTH_RADIUS_M)
    dlng = math.degrees(metres / (EARTH_RADIUS_M * max(math.cos(math.radians(lat)), 0.01)))
    return lat - dlat, lat + dlat, lng - dlng, lng + dlng


def in_china(lat: float, lng: float) -> bool:
    """The rough box the GCJ-02 offset applies in (outside it the two systems agree)."""
    return 3.86 < lat < 53.55 and 73.66 < lng < 135.05


def _offset_lat(x: float, y: float) -> float:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (160.0 * math.sin(y / 12.0 * math.pi) + 320.0 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    return ret


def _offset_lng(x: float, y: float) -> float:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    return ret


def wgs84_to_gcj02(lat: float, lng: float) -> tuple[float, float]:
    """A browser's (WGS-84) position as Chinese maps place it (GCJ-02); unchanged outside China."""
    if not in_china(lat, lng):
        return lat, lng
    dlat = _offset_lat(lng - 105.0, lat - 35.0)
    dlng = _offset_lng(lng - 105.0, lat - 35.0)
    radlat = math.radians(lat)
    magic = 1 - _EE * math.sin(radlat) ** 2
    sqrtmagic = math.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrtmagic) * math.pi)
    dlng = (dlng * 180.0) / (_A / sqrtmagic * math.cos(radlat) * math.pi)
    return lat + dlat, lng + dlng


def navigation_link(lat: float, lng: float, name: str) -> str:
    """Amap's URI API: opens the Amap app (or its web page) with a cycling route to the station.
    It needs no API key, takes GCJ-02 (coordinate=gaode) and works from a WeChat text link.
    https://lbs.amap.com/api/uri-api/guide/travel/route"""
    return (f"https://uri.amap.com/navigation?to={lng:.6f},{lat:.6f},{quote(name[:20], safe='')}"
            f"&mode=ride&coordinate=gaode&callnative=1")


def describe_distance(metres: float) -> str:
    if metres < 1000:
        return f"{max(10, round(metres, -1)):.0f} 米"
    return f"{metres / 1000:.1f} 公里"
