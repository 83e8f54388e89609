"""The rest-station directory end to end: CSV import through the real `gigdesk stations`
command into a real SQLite file, then riders' locations and questions through the real signed
/wechat webhook and the web chat's JSON API. Opening hours are written relative to the current
time in Asia/Shanghai, so "open now" and "closed now" hold whenever the suite runs."""
from __future__ import annotations

import contextlib
import datetime as dt
import os
import random
from zoneinfo import ZoneInfo

import pytest

from bot.app import STORE, create_app
from bot.cli import main
from stations.geo import haversine_m, wgs84_to_gcj02
from tests.conftest import on_db, reply_content, send_text, signed_query, wechat_xml

ZONE = ZoneInfo("Asia/Shanghai")
HEADER = "name,address,lat,lng,hours,services,phone,city,district,updated\n"
# The sample location message (tests/data/wechat/location.xml): 上海人民广场.
HERE = (31.230416, 121.473701)
pytestmark = pytest.mark.both_backends


def closed_now() -> str:
    """Hours that are certainly closed now: an hour-long window starting in six hours."""
    start = dt.datetime.now(ZONE) + dt.timedelta(hours=6)
    end = start + dt.timedelta(hours=1)
    return f"{start:%H}:00-{end:%H}:00"


def station(name: str, north_m: float, hours: str = "24小时", services: str = "饮水、如厕",
            district: str = "黄浦区", address: str | None = None) -> str:
    lat = HERE[0] + north_m / 111_195
    return (f"{name},{address or name + '路1号'},{lat:.6f},{HERE[1]:.6f},{hours},{services},021-6000000,上海,"
            f"{district},2026-11-01\n")


def directory(tmp_path, rows: str, name: str = "stations.csv", bom: bool = False, header: str = HEADER):
    path = tmp_path / name
    path.write_bytes(("\ufeff" if bom else "").encode() + (header + rows).encode("utf-8"))
    return path


def run(capsys, *args) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def import_into(capsys, settings, path, *flags) -> tuple[int, str, str]:
    with database_env(settings):
        return run(capsys, "stations", "import", str(path), "--data-dir", settings.data_dir, *flags)


def export_from(capsys, settings, *flags) -> tuple[int, str, str]:
    with database_env(settings):
        return run(capsys, "stations", "export", "--data-dir", settings.data_dir, *flags)


@contextlib.contextmanager
def database_env(settings):
    """The command line on the test's backend: GIGDESK_DATABASE_URL as a deployment sets it."""
    old = os.environ.get("GIGDESK_DATABASE_URL")
    os.environ["GIGDESK_DATABASE_URL"] = settings.database_url
    try:
        yield
    finally:
        if old is None:
            del os.environ["GIGDESK_DATABASE_URL"]
        else:
            os.environ["GIGDESK_DATABASE_URL"] = old


async def send_location(client, lat: float, lng: float, openid: str = "o_rider_1", label: str = "当前位置") -> str:
    xml = (wechat_xml("location", openid=openid)
           .replace("31.230416", f"{lat:.6f}").replace("121.473701", f"{lng:.6f}")
           .replace("上海市黄浦区人民广场", label))
    resp = await client.post(signed_query(), data=xml.encode())
    assert resp.status == 200, await resp.text()
    return reply_content(await resp.text())


# --- import --------------------------------------------------------------------------------

async def test_import_is_served_at_once_by_the_running_server(client, tmp_path, capsys):
    settings = client.app["settings"] if False else None  # noqa: F841 (the app's own settings below)
    from bot.app import SETTINGS
    settings = client.app[SETTINGS]
    before = await send_location(client, *HERE)
    assert "工会户外劳动者服务站点" in before  # the empty default: today's map-search answer
    path = directory(tmp_path, station("人民广场驿站", 200) + station("西藏路驿站", 900))
    code, out, err = import_into(capsys, settings, path)
    assert code == 0, err
    assert "2 added" in out
    after = await send_location(client, *HERE)  # no restart, no reload signal
    assert "人民广场驿站" in after and "西藏路驿站" in after
    assert after.index("人民广场驿站") < after.index("西藏路驿站")  # nearest first


def test_a_file_with_errors_imports_nothing_and_lists_every_bad_row(settings, tmp_path, capsys):
    rows = (station("好驿站", 100)
            + "缺坐标驿站,某路2号,,,24小时,饮水,,上海,黄浦区,2026-11-01\n"
            + f"反了驿站,某路3号,{HERE[1]},{HERE[0]},24小时,饮水,,上海,黄浦区,2026-11-01\n"
            + station("怪时间驿站", 300, hours="看心情")
            + station("怪服务驿站", 400, services="饮水、按摩")
            + "未来驿站,某路6号,31.23,121.47,24小时,饮水,,上海,黄浦区,2099-01-01\n")
    code, out, err = import_into(capsys, settings, directory(tmp_path, rows))
    assert code == 1
    for line, why in ((3, "缺少纬度"), (4, "纬度和经度可能写反了"), (5, "看心情"), (6, "按摩"), (7, "还没到")):
        assert f"第 {line} 行" in err and why in err, (line, why, err)
    assert "第 2 行" not in err
    assert "nothing imported" in err
    code, out, err = export_from(capsys, settings)
    assert out.strip().lstrip("\ufeff").splitlines()[1:] == []  # nothing was imported


def test_good_rows_only_imports_the_good_ones(settings, tmp_path, capsys):
    rows = station("好驿站", 100) + station("怪服务驿站", 400, services="按摩") + station("又一个好驿站", 500)
    code, out, err = import_into(capsys, settings, directory(tmp_path, rows), "--good-rows-only")
    assert code == 0, err
    assert "2 added" in out and "1 bad row(s) left out" in out and "第 3 行" in err
    code, out, _ = export_from(capsys, settings)
    assert "好驿站" in out and "又一个好驿站" in out and "怪服务驿站" not in out


def test_chinese_headers_a_bom_and_a_round_trip_through_export(settings, tmp_path, capsys):
    header = "名称,地址,纬度,经度,开放时间,服务,电话,城市,区县,更新日期,备注\n"
    row = f"南京东路驿站,南京东路300号,31.238,121.48,周一至周五 9:00-18:00,饮水、厕所、手机充电,021-1,上海,黄浦区,2026/9/1,x\n"
    code, out, err = import_into(capsys, settings, directory(tmp_path, row, bom=True, header=header))
    assert code == 0, err
    assert "备注" in err  # the unused column is named, not silently dropped
    out_file = tmp_path / "out.csv"
    code, _, _ = export_from(capsys, settings, "--out", str(out_file))
    exported = out_file.read_text("utf-8")
    assert exported.startswith("\ufeffname,address,lat,lng")
    assert "饮水、如厕、充电" in exported  # synonyms stored as the vocabulary's names
    assert "2026-09-01" in exported
    code, out, err = import_into(capsys, settings, out_file)  # exported, re-imported: nothing changes
    assert code == 0 and "0 added, 0 changed, 1 unchanged" in out, out + err


def test_a_file_that_is_not_utf8_is_refused_with_what_to_do(settings, tmp_path, capsys):
    path = tmp_path / "gbk.csv"
    path.write_bytes((HEADER + station("驿站", 1)).encode("gbk"))
    code, _, err = import_into(capsys, settings, path)
    assert code == 1 and "UTF-8" in err


def test_export_defuses_spreadsheet_formulas(settings, tmp_path, capsys):
    row = station("=HYPERLINK(\"http://x\")", 100, address="@SUM(A1)")
    code, out, err = import_into(capsys, settings, directory(tmp_path, row.replace(",", "，", 0)))
    # the name with a formula is a name like any other; on the way out it cannot run
    assert code == 0, err
    _, out, _ = export_from(capsys, settings)
    assert "'@SUM(A1)" in out and "\n=" not in out and ",=" not in out


# --- riders through /wechat ------------------------------------------------------------------

@pytest.fixture
async def stocked(client, tmp_path, capsys):
    """The running test app with a directory near 人民广场: open, closed and far stations."""
    from bot.app import SETTINGS
    rows = (station("关门驿站", 150, hours=closed_now(), services="饮水、充电")
            + station("人民广场驿站", 300, services="饮水、如厕")
            + station("西藏路驿站", 800, services="饮水、充电、热饭")
            + station("福州路驿站", 1500, services="休息、避雨")
            + station("第四近驿站", 2000, services="饮水")
            + station("静安寺驿站", 3000, services="充电、换电", district="静安区", address="南京西路1600号")
            + station("远处驿站", 9000, services="充电"))
    code, _, err = import_into(capsys, client.app[SETTINGS], directory(tmp_path, rows))
    assert code == 0, err
    return client


async def test_a_location_gets_the_nearest_three_open_stations_with_what_a_rider_needs(stocked):
    reply = await send_location(stocked, *HERE)
    listed = [n for n in ("人民广场驿站", "西藏路驿站", "福州路驿站", "第四近驿站", "远处驿站") if f". {n}" in reply]
    assert listed == ["人民广场驿站", "西藏路驿站", "福州路驿站"]
    assert "300 米，电动车约 1 分钟" in reply  # 300 m at 15 km/h
    assert "1.5 公里，电动车约 6 分钟" in reply
    assert "24小时（现在开着）" in reply
    assert "服务：饮水、充电、热饭" in reply and "电话：021-6000000" in reply
    assert "https://uri.amap.com/navigation?to=121.473701," in reply and "mode=ride" in reply
    # the nearer station that is shut is said, with its hours, and not offered as a place to go
    assert "更近的关门驿站（150 米）现在关门" in reply and ". 关门驿站" not in reply
    assert len(reply.encode()) <= 2048


async def test_a_service_asked_after_a_location_filters(stocked):
    await send_location(stocked, *HERE)
    reply = await send_text(stocked, "能充电的")
    assert "能充电的工会驿站" in reply
    assert ". 西藏路驿站" in reply and ". 静安寺驿站" in reply
    assert ". 人民广场驿站" not in reply and ". 福州路驿站" not in reply


async def test_asking_without_a_location_asks_for_one_and_the_location_then_answers_it(stocked):
    reply = await send_text(stocked, "哪里能充电", openid="o_asker")
    assert "+" in reply and "位置" in reply and "能充电" in reply
    reply = await send_location(stocked, *HERE, openid="o_asker")
    assert ". 西藏路驿站" in reply and ". 人民广场驿站" not in reply  # the service asked for still applies


async def test_a_district_named_is_answered_from_the_directory(stocked):
    await send_text(stocked, "附近驿站", openid="o_place")
    # (not "我在静安区": the learned danger model reads that as violence, and danger comes first)
    reply = await send_text(stocked, "静安区", openid="o_place")
    assert "静安区" in reply and ". 静安寺驿站" in reply and ". 人民广场驿站" not in reply
    reply = await send_text(stocked, "西藏路那边有驿站吗", openid="o_street")
    assert ". 西藏路驿站" in reply


async def test_nothing_within_five_km_says_so_and_gives_the_map_search(stocked):
    reply = await send_location(stocked, 39.9087, 116.3975)  # 北京天安门: none of ours near
    assert "5 公里内没有" in reply and "工会户外劳动者服务站点" in reply


async def test_the_empty_directory_keeps_todays_answers(client):
    assert "工会户外劳动者服务站点" in await send_location(client, *HERE)
    reply = await send_text(client, "附近有工会驿站吗")
    assert "工会户外劳动者服务站点" in reply  # the FAQ's station-find answer, as before
    assert "点右下角" not in reply


async def test_a_faq_question_about_stations_is_still_the_faq(stocked):
    reply = await send_text(stocked, "工会驿站是干啥的")
    assert "18.6万" in reply  # station-what, not a list of stations


async def test_junk_coordinates_get_the_plain_answer_not_an_error(stocked):
    for lat, lng in (("abc", "121.4"), ("999", "121.4"), ("nan", "nan"), ("", "")):
        xml = wechat_xml("location").replace("31.230416", lat).replace("121.473701", lng)
        resp = await stocked.post(signed_query(), data=xml.encode())
        assert resp.status == 200
        assert "工会户外劳动者服务站点" in reply_content(await resp.text())


async def test_station_text_is_never_markup_and_long_entries_fit_wechat(client, tmp_path, capsys):
    from bot.app import SETTINGS
    hostile = "<script>alert(1)</script>驿站" + "长" * 25
    rows = "".join(station(f"{hostile}{i}", 100 + i * 10, address="地址" * 90) for i in range(3))
    code, _, err = import_into(capsys, client.app[SETTINGS], directory(tmp_path, rows))
    assert code == 0, err
    resp = await client.post(signed_query(), data=wechat_xml("location").encode())
    body = await resp.text()
    assert resp.status == 200 and "<script>" not in body.split("<Content>")[0]
    reply = reply_content(body)
    assert len(reply.encode()) <= 2048 and "更多" in reply  # cut within the limit, the rest on 更多


# --- the web chat ------------------------------------------------------------------------------

async def test_the_web_chat_sends_the_browsers_position_converted_to_gcj02(client, tmp_path, capsys):
    from bot.app import SETTINGS
    wgs = (31.2290, 121.4700)  # what navigator.geolocation says
    gcj = wgs84_to_gcj02(*wgs)  # where the union's map pin for a station there is
    assert haversine_m(*wgs, *gcj) > 300  # the two differ enough to matter
    row = f"门口驿站,门口路1号,{gcj[0]:.6f},{gcj[1]:.6f},24小时,充电,,上海,黄浦区,2026-11-01\n"
    code, _, err = import_into(capsys, client.app[SETTINGS], directory(tmp_path, row))
    assert code == 0, err
    resp = await client.post("/chat/api/messages", json={"location": {"lat": wgs[0], "lng": wgs[1]}})
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert body["outcome"] == "stations" and "门口驿站（10 米" in body["reply"]
    texts = [m["text"] for m in (await (await client.get("/chat/api/messages")).json())["messages"]]
    assert texts[0] == "[我的位置]"  # the transcript keeps words, not the coordinates
    resp = await client.post("/chat/api/messages", json={"text": "附近驿站"})
    assert "门口驿站" in (await resp.json())["reply"]  # read against the position just sent


@pytest.mark.parametrize("location", [None, "31,121", {"lat": "31"}, {"lat": 91, "lng": 0}, {"lat": True, "lng": 1},
                                      {"lat": 1e400, "lng": 1}, []])
async def test_the_web_chat_refuses_a_position_that_is_not_one(client, location):
    resp = await client.post("/chat/api/messages", json={"location": location})
    assert resp.status == 400


async def test_the_web_chat_asks_for_the_location_button(client, tmp_path, capsys):
    from bot.app import SETTINGS
    import_into(capsys, client.app[SETTINGS], directory(tmp_path, station("人民广场驿站", 100)))
    reply = (await (await client.post("/chat/api/messages", json={"text": "附近哪里能喝水"})).json())["reply"]
    assert "发送我的位置" in reply


# --- demo mode -----------------------------------------------------------------------------------

async def test_demo_examples_are_marked_and_never_shown_outside_demo_mode(aiohttp_client, settings):
    from bot.cli import _demo_stations
    demo_app = create_app(settings.with_overrides(demo=True))
    _demo_stations(demo_app[STORE].store)
    demo = await aiohttp_client(demo_app)
    reply = await send_location(demo, *HERE)
    assert "示例驿站" in reply and "示例数据" in reply
    await demo.close()
    real = await aiohttp_client(create_app(settings))  # the same database, not in demo mode
    reply = await send_location(real, *HERE)
    assert "示例" not in reply and "工会户外劳动者服务站点" in reply


async def test_the_web_chat_location_button_sends_the_phone_position_in_a_real_browser(aiohttp_server, settings):
    """Chromium reports a WGS-84 position (as a phone's GPS does); the rider taps 发送我的位置 and
    gets the station whose GCJ-02 pin is at that spot, with its map link as a link."""
    from playwright.async_api import expect

    from tests.test_webchat import CHROMIUM, CHROMIUM_ARGS
    if not CHROMIUM.exists():
        pytest.skip(f"browser tests need chromium at {CHROMIUM}")
    from playwright.async_api import async_playwright

    wgs = (31.2290, 121.4700)
    gcj = wgs84_to_gcj02(*wgs)
    app = create_app(settings)
    server = await aiohttp_server(app, host="127.0.0.1", port=0)
    # On the database thread: the escalator, started with the server, may be in a transaction
    # on the same connection (PostgreSQL refused the interleaving; SQLite let it pass).
    await on_db(app, app[STORE].store.import_stations, [{
        "name": "门口驿站", "address": "门口路1号", "lat": round(gcj[0], 6), "lng": round(gcj[1], 6),
        "hours": "24小时", "services": "充电", "phone": "", "city": "上海", "district": "黄浦区",
        "updated": "2026-11-01", "open_to_all": 1, "enabled": 1}], "test", 0)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            context = await browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True,
                                                locale="zh-CN", geolocation={"latitude": wgs[0], "longitude": wgs[1]},
                                                permissions=["geolocation"])
            context.set_default_timeout(10_000)
            page = await context.new_page()
            await page.goto(str(server.make_url("/chat")))
            await page.get_by_role("button", name="发送我的位置").click()
            answer = page.locator("#log .msg.bot .bubble").last
            await expect(answer).to_contain_text("门口驿站（10 米")
            link = answer.locator("a").first
            assert (await link.get_attribute("href")).startswith("https://")
            await expect(page.locator("#log .msg.me .bubble").last).to_have_text("[我的位置]")
            await context.close()
        finally:
            await browser.close()


def test_the_nearest_stations_of_a_dense_directory_are_the_truly_nearest(tmp_path, make_store):
    """Past NEAR_LIMIT stations in the radius, SQLite's flat-earth ordering picks which become
    rows: the three nearest must still be exactly those a full haversine sort gives."""
    from storage.stations import NEAR_LIMIT
    rng = random.Random(3)
    rows = [{"name": f"站{i}", "address": f"路{i}号", "lat": round(HERE[0] + rng.uniform(-0.02, 0.02), 6),
             "lng": round(HERE[1] + rng.uniform(-0.02, 0.02), 6), "hours": "24小时", "services": "饮水",
             "phone": "", "city": "上海", "district": "黄浦区", "updated": "2026-11-01", "open_to_all": 1,
             "enabled": 1} for i in range(NEAR_LIMIT * 3)]
    store = make_store(tmp_path / "dense.db")
    try:
        store.import_stations(rows, "test", 0)
        near = store.stations_near(*HERE, 5000)
        truth = sorted(rows, key=lambda r: haversine_m(*HERE, r["lat"], r["lng"]))
        assert len(near) == NEAR_LIMIT and [r["name"] for r in near[:10]] == [r["name"] for r in truth[:10]]
    finally:
        store.close()
