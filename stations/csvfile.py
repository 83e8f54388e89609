"""The directory's CSV format: UTF-8 with a header row, as a spreadsheet saves it (Excel's
"CSV UTF-8" adds a byte-order mark, which is accepted). Headers in English or Chinese:

    name 名称 · address 地址 · lat 纬度 · lng 经度 (GCJ-02, as Amap/Tencent maps and WeChat
    give them) · hours 开放时间 · services 服务 · phone 电话 · city 城市 · district 区县 ·
    updated 更新日期 · optional: open_to_all 对所有劳动者开放 (是/否), enabled 启用 (是/否)

Every bad row is reported with its line in the file and why; the caller decides whether a file
with errors is refused whole or only its good rows are taken."""
from __future__ import annotations

import csv
import datetime as dt
import io
import re
import unicodedata
from dataclasses import dataclass, field

from stations.geo import in_china
from stations.hours import HoursError, parse_hours
from stations.services import SERVICES, parse_services

COLUMNS = ("name", "address", "lat", "lng", "hours", "services", "phone", "city", "district", "updated",
           "open_to_all", "enabled")
CHINESE = {"名称": "name", "站点名称": "name", "地址": "address", "纬度": "lat", "经度": "lng",
           "开放时间": "hours", "服务": "services", "服务项目": "services", "电话": "phone",
           "联系电话": "phone", "城市": "city", "区县": "district", "区": "district", "更新日期": "updated",
           "对所有劳动者开放": "open_to_all", "对所有户外劳动者开放": "open_to_all", "启用": "enabled"}
CHINESE_HEADERS = {"name": "名称", "address": "地址", "lat": "纬度", "lng": "经度", "hours": "开放时间",
                   "services": "服务", "phone": "电话", "city": "城市", "district": "区县",
                   "updated": "更新日期", "open_to_all": "对所有劳动者开放", "enabled": "启用"}
REQUIRED = ("name", "address", "lat", "lng", "updated")
MAX_LENGTH = {"name": 60, "address": 200, "hours": 120, "phone": 40, "city": 30, "district": 30}
YES = {"是", "yes", "y", "true", "1", "对", "开放", "启用"}
NO = {"否", "no", "n", "false", "0", "不", "不开放", "停用"}
PHONE = re.compile(r"^[0-9+\-－\s()（）转,，、/]{3,40}$")
# Spreadsheets run a cell that starts with these as a formula (CSV injection, OWASP): exported
# cells get a leading ' and an imported ' before them is dropped again.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
MAX_ROWS = 300_000  # a national list is about 186,000 stations


@dataclass(frozen=True)
class StationRow:
    line: int
    name: str
    address: str
    lat: float
    lng: float
    hours: str
    services: tuple[str, ...]
    phone: str
    city: str
    district: str
    updated: str  # YYYY-MM-DD
    open_to_all: bool = True
    enabled: bool = True

    def key(self) -> tuple[str, str]:
        """What makes a station the same station from one import to the next."""
        return (self.name, self.address)

    def fields(self) -> dict:
        return {"name": self.name, "address": self.address, "lat": self.lat, "lng": self.lng,
                "hours": self.hours, "services": ",".join(self.services), "phone": self.phone,
                "city": self.city, "district": self.district, "updated": self.updated,
                "open_to_all": int(self.open_to_all), "enabled": int(self.enabled)}


@dataclass(frozen=True)
class RowProblem:
    line: int  # 1 is the header
    message: str

    def __str__(self) -> str:
        return f"第 {self.line} 行：{self.message}"


@dataclass
class Parsed:
    rows: list[StationRow] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    bad_lines: set[int] = field(default_factory=set)


def decode(data: bytes) -> str:
    """The file's text; a file that is not UTF-8 is refused with what to do."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError("文件不是 UTF-8 编码：在 Excel 里选“另存为 → CSV UTF-8（逗号分隔）”，"
                         "WPS 选“CSV（逗号分隔）”并选 UTF-8") from None


def _header(cells: list[str]) -> tuple[dict[int, str], list[str]]:
    mapping, ignored = {}, []
    for index, cell in enumerate(cells):
        name = unicodedata.normalize("NFKC", cell).strip().lower().replace(" ", "_")
        column = name if name in COLUMNS else CHINESE.get(cell.strip())
        if column and column not in mapping.values():
            mapping[index] = column
        elif cell.strip():
            ignored.append(cell.strip())
    return mapping, ignored


def _number(text: str, what: str, low: float, high: float) -> float:
    try:
        value = float(unicodedata.normalize("NFKC", text).strip())
    except ValueError:
        raise ValueError(f"{what}“{text}”不是数字") from None
    if not low <= value <= high:
        raise ValueError(f"{what} {value} 不在中国范围内（{low}–{high}）")
    return value


def _date(text: str, today: dt.date) -> str:
    cleaned = unicodedata.normalize("NFKC", text).strip()
    found = re.fullmatch(r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?", cleaned)
    if not found:
        raise ValueError(f"更新日期“{text}”要写成 2025-06-30")
    try:
        date = dt.date(*map(int, found.groups()))
    except ValueError:
        raise ValueError(f"更新日期“{text}”这一天不存在") from None
    if date > today + dt.timedelta(days=1):
        raise ValueError(f"更新日期 {date} 还没到")
    return date.isoformat()


def _flag(text: str, what: str) -> bool:
    cleaned = unicodedata.normalize("NFKC", text).strip().lower()
    if not cleaned or cleaned in YES:
        return True
    if cleaned in NO:
        return False
    raise ValueError(f"{what}要写“是”或“否”，不是“{text}”")


def _cell(text: str) -> str:
    text = text.strip()
    if text.startswith("'") and text[1:2] in FORMULA_START:
        text = text[1:]
    # One line per cell: a newline or control character in a name would break a rider's reply.
    return " ".join("".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in text).split())


def _row(line: int, values: dict[str, str], today: dt.date) -> tuple[StationRow | None, list[str]]:
    reasons = []
    for column in REQUIRED:
        if not values.get(column):
            reasons.append(f"缺少{CHINESE_HEADERS[column]}（{column}）")
    for column, limit in MAX_LENGTH.items():
        if len(values.get(column, "")) > limit:
            reasons.append(f"{CHINESE_HEADERS[column]}超过 {limit} 个字")
    lat = lng = 0.0
    if values.get("lat") and values.get("lng"):
        try:
            lat = _number(values["lat"], "纬度", 3.8, 53.6)
            lng = _number(values["lng"], "经度", 73.6, 135.1)
            if not in_china(lat, lng):
                reasons.append("坐标不在中国境内")
        except ValueError as exc:
            swapped = _swapped(values["lat"], values["lng"])
            reasons.append(str(exc) + ("：纬度和经度可能写反了" if swapped else ""))
    try:
        parse_hours(values.get("hours", ""))
    except HoursError as exc:
        reasons.append(f"开放时间：{exc}")
    services, unknown = parse_services(values.get("services", ""))
    if unknown:
        reasons.append(f"服务里有不认识的“{'、'.join(unknown)}”（可用：{'、'.join(SERVICES)}）")
    phone = values.get("phone", "")
    if phone and not PHONE.match(unicodedata.normalize("NFKC", phone)):
        reasons.append(f"电话“{phone}”只能有数字、-、空格和“转”")
    updated = ""
    if values.get("updated"):
        try:
            updated = _date(values["updated"], today)
        except ValueError as exc:
            reasons.append(str(exc))
    flags = {}
    for column in ("open_to_all", "enabled"):
        try:
            flags[column] = _flag(values.get(column, ""), CHINESE_HEADERS[column])
        except ValueError as exc:
            reasons.append(str(exc))
    if reasons:
        return None, reasons
    return StationRow(line, values["name"], values["address"], lat, lng, values.get("hours", ""), services, phone,
                      values.get("city", ""), values.get("district", ""), updated, **flags), []


def check_fields(values: dict[str, object], today: dt.date | None = None) -> tuple[StationRow | None, list[str]]:
    """One station as the console's form sends it, checked exactly as an imported row is."""
    cells = {}
    for column in COLUMNS:
        value = values.get(column, "")
        if isinstance(value, bool):
            value = "是" if value else "否"
        elif isinstance(value, (list, tuple)):
            value = "、".join(str(v) for v in value)
        cells[column] = _cell(str(value if value is not None else ""))
    return _row(0, cells, today or dt.date.today())


def _swapped(lat: str, lng: str) -> bool:
    try:
        return 3.8 <= float(lng) <= 53.6 and 73.6 <= float(lat) <= 135.1
    except ValueError:
        return False


def parse_csv(data: bytes | str, today: dt.date | None = None) -> Parsed:
    """Every row checked; the good ones in .rows, the reasons for the others in .problems."""
    today = today or dt.date.today()
    parsed = Parsed()
    try:
        text = decode(data) if isinstance(data, bytes) else data.lstrip("\ufeff")
    except ValueError as exc:
        parsed.problems.append(RowProblem(1, str(exc)))
        return parsed
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
    except csv.Error as exc:
        parsed.problems.append(RowProblem(1, f"第一行读不出来：{exc}"))
        return parsed
    if header is None:
        parsed.problems.append(RowProblem(1, "文件是空的：第一行应当是表头（名称,地址,纬度,经度,…）"))
        return parsed
    mapping, parsed.ignored_columns = _header(header)
    missing = [f"{CHINESE_HEADERS[c]}（{c}）" for c in REQUIRED if c not in mapping.values()]
    if missing:
        parsed.problems.append(RowProblem(1, "表头缺少 " + "、".join(missing)))
        return parsed
    seen: dict[tuple[str, str], int] = {}
    line = reader.line_num + 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            parsed.problems.append(RowProblem(line, f"这一行读不出来（{exc}），检查引号"))
            break
        start, line = line, reader.line_num + 1
        if not any(c.strip() for c in cells):
            continue
        if len(parsed.rows) + len(parsed.bad_lines) >= MAX_ROWS:
            parsed.problems.append(RowProblem(start, f"超过 {MAX_ROWS} 行，请分几个文件导入"))
            break
        values = {column: _cell(cells[i]) if i < len(cells) else "" for i, column in mapping.items()}
        row, reasons = _row(start, values, today)
        if row is not None and row.key() in seen:
            reasons, row = [f"和第 {seen[row.key()]} 行是同一个站点（名称和地址都相同）"], None
        if row is None:
            parsed.problems.append(RowProblem(start, "；".join(reasons)))
            parsed.bad_lines.add(start)
            continue
        seen[row.key()] = start
        parsed.rows.append(row)
    return parsed


def _safe(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def write_csv(stations: list[dict], chinese: bool = False) -> str:
    """The directory as CSV (with a BOM, so Excel opens it as UTF-8); reads back with parse_csv."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([CHINESE_HEADERS[c] if chinese else c for c in COLUMNS])
    for s in stations:
        row = dict(s)
        row["services"] = "、".join(filter(None, (s.get("services") or "").split(",")))
        row["open_to_all"] = "是" if s.get("open_to_all", 1) else "否"
        row["enabled"] = "是" if s.get("enabled", 1) else "否"
        row["lat"], row["lng"] = f"{s['lat']:.6f}", f"{s['lng']:.6f}"
        writer.writerow([_safe(row.get(c, "")) for c in COLUMNS])
    return "\ufeff" + out.getvalue()
