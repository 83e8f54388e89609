"""The station directory in the console: the JSON API through a logged-in client (roles, CSRF,
checks, history, import preview then apply), and editing in a real headless chromium with the
rider's answer through the real /wechat right after."""
from __future__ import annotations

import pytest

from bot.app import SETTINGS, STORE
from tests.conftest import reply_content, signed_query, wechat_xml
from tests.test_console_browser import CHROMIUM, browser, desk, log_in, open_page  # noqa: F401 (fixtures)

pytestmark = pytest.mark.both_backends

HEADER = "name,address,lat,lng,hours,services,phone,city,district,updated\n"
ROW = "人民广场驿站,西藏中路1号,31.2320,121.4740,24小时,饮水、如厕,021-1,上海,黄浦区,2026-11-01\n"


async def test_editors_import_with_a_preview_then_edit_and_every_change_is_kept(client, console):
    editor = await console("wang", role="editor")
    status, body = await editor.post("/api/stations/import", {"csv": HEADER + ROW})
    assert status == 200 and body["applied"] is False and body["counts"]["added"] == 1
    assert (await editor.get("/api/stations"))[1]["stations"] == []  # a preview changes nothing
    status, body = await editor.post("/api/stations/import", {"csv": HEADER + ROW + "坏,,x,y,,,,,,\n"})
    assert status == 400 and body["problems"][0]["line"] == 3
    status, body = await editor.post("/api/stations/import", {"csv": HEADER + ROW, "apply": True})
    assert status == 200 and body["applied"] is True
    station = (await editor.get("/api/stations?q=人民"))[1]["stations"][0]
    status, body = await editor.post(f"/api/stations/{station['id']}", {"hours": "看心情"})
    assert status == 400 and any("看心情" in r for r in body["reasons"])
    status, body = await editor.post(f"/api/stations/{station['id']}", {"services": "饮水、充电", "enabled": False})
    assert status == 200 and body["station"]["services"] == ["饮水", "充电"] and body["station"]["enabled"] is False
    _, detail = await editor.get(f"/api/stations/{station['id']}")
    assert [c["action"] for c in detail["changes"]] == ["edit", "import"]
    assert detail["changes"][0]["before"]["services"] == "饮水,如厕" and detail["changes"][0]["actor"] == "wang"
    resp = await client.post(signed_query(), data=wechat_xml("location").encode())
    assert "人民广场驿站" not in reply_content(await resp.text())  # disabled: never offered


async def test_caseworkers_may_not_edit_and_writes_need_the_csrf_token(client, console):
    caseworker = await console("li", role="caseworker")
    assert (await caseworker.get("/api/stations"))[0] == 403
    assert (await caseworker.post("/api/stations/import", {"csv": HEADER + ROW}))[0] == 403
    editor = await console("wang", role="editor")
    editor.csrf = "wrong"
    assert (await editor.post("/api/stations/import", {"csv": HEADER + ROW, "apply": True}))[0] == 403
    assert client.app[STORE].store.station_count() == 0


async def test_the_dashboard_lists_stations_not_updated_for_the_configured_time(client, console):
    editor = await console("wang", role="editor")
    old = ROW.replace("2026-11-01", "2020-01-01").replace("人民广场驿站", "老驿站")
    import datetime as dt
    fresh = ROW.replace("2026-11-01", dt.date.today().isoformat())
    status, _ = await editor.post("/api/stations/import", {"csv": HEADER + fresh + old, "apply": True})
    assert status == 200
    status, body = await editor.get("/api/stations/stale")
    assert status == 200 and [s["name"] for s in body["stations"]] == ["老驿站"] and body["total"] == 1
    assert body["days"] == client.app[SETTINGS].stations_stale_days


@pytest.mark.skipif(not CHROMIUM.exists(), reason=f"browser tests need chromium at {CHROMIUM}")
async def test_an_editor_edits_a_station_in_the_browser_and_riders_get_it_at_once(desk, browser):
    from playwright.async_api import expect

    desk.app[STORE].store.import_stations([{
        "name": "人民广场驿站", "address": "西藏中路1号", "lat": 31.232, "lng": 121.474, "hours": "24小时",
        "services": "饮水", "phone": "", "city": "上海", "district": "黄浦区", "updated": "2026-11-01",
        "open_to_all": 1, "enabled": 1}], "test", 0)
    desk.add_user("wang", role="editor")
    context, page = await open_page(browser, desk)
    await log_in(page, desk, "wang", "/console/stations")
    await page.get_by_label("查找").fill("人民")
    await page.get_by_role("link", name="人民广场驿站").click()
    await page.get_by_label("服务").fill("饮水、充电、<b>热饭</b>")
    await page.get_by_role("button", name="保存").click()
    await expect(page.locator("#reasons")).to_contain_text("<b>热饭<")  # refused, shown as text
    await page.get_by_label("服务").fill("饮水、充电")
    await page.get_by_label("名称").fill("人民广场驿站<script>x</script>")
    await page.get_by_role("button", name="保存").click()
    await expect(page.locator("#history li").first).to_contain_text("wang 修改")
    await expect(page.locator("#stations tbody")).to_contain_text("饮水、充电")
    async with desk.http.post(desk.base + signed_query(), data=wechat_xml("location").encode()) as resp:
        reply = reply_content(await resp.text())
    assert "服务：饮水、充电" in reply and "人民广场驿站<script>x</script>" in reply  # text, as saved
    await context.close()


@pytest.mark.skipif(not CHROMIUM.exists(), reason=f"browser tests need chromium at {CHROMIUM}")
async def test_the_dashboard_page_shows_the_stations_to_check_and_opens_one(desk, browser):
    from playwright.async_api import expect

    import datetime as dt
    fields = {"address": "西藏中路1号", "lat": 31.232, "lng": 121.474, "hours": "24小时", "services": "饮水",
              "phone": "021-1", "city": "上海", "district": "黄浦区", "open_to_all": 1, "enabled": 1}
    desk.app[STORE].store.import_stations([
        {**fields, "name": "老驿站<b>旧</b>", "updated": "2020-01-01"},
        {**fields, "name": "新驿站", "address": "南京东路2号", "updated": dt.date.today().isoformat()}], "test", 0)
    desk.add_user("wang", role="editor")
    context, page = await open_page(browser, desk)
    await log_in(page, desk, "wang", "/console/dashboard")
    panel = page.locator("#stale-stations")
    await expect(panel).to_be_visible()
    await expect(panel).to_contain_text("老驿站<b>旧</b>")  # the name as text, not markup
    await expect(panel).to_contain_text("2020-01-01")
    await expect(panel).not_to_contain_text("新驿站")
    await panel.get_by_role("link", name="老驿站<b>旧</b>").click()
    await expect(page.get_by_label("名称")).to_have_value("老驿站<b>旧</b>")
    await context.close()


@pytest.mark.skipif(not CHROMIUM.exists(), reason=f"browser tests need chromium at {CHROMIUM}")
async def test_an_editor_previews_an_import_in_the_browser_fixes_the_file_and_imports_it(desk, browser):
    from playwright.async_api import expect

    desk.add_user("wang", role="editor")
    context, page = await open_page(browser, desk)
    await log_in(page, desk, "wang", "/console/stations")
    bad = "\ufeff" + HEADER + ROW + "坏站,,x,y,,,,,,\n"
    await page.locator("#import-file").set_input_files(
        {"name": "驿站.csv", "mimeType": "text/csv", "buffer": bad.encode("utf-8")})
    await page.get_by_role("button", name="预览").click()
    result = page.locator("#import-result")
    await expect(result).to_contain_text("第 3 行")  # the bad row, by its line in the file
    await expect(page.get_by_role("button", name="导入", exact=True)).to_be_disabled()
    assert await desk.db(desk.app[STORE].store.station_count) == 0
    await page.locator("#import-file").set_input_files(
        {"name": "驿站.csv", "mimeType": "text/csv", "buffer": ("\ufeff" + HEADER + ROW).encode("utf-8")})
    await page.get_by_role("button", name="预览").click()
    await expect(result).to_contain_text("预览：新增 1 个")
    await expect(result).to_contain_text("新增 人民广场驿站")
    assert await desk.db(desk.app[STORE].store.station_count) == 0  # a preview changes nothing
    await page.get_by_role("button", name="导入", exact=True).click()
    await expect(result).to_contain_text("已导入：新增 1 个")
    await expect(page.locator("#stations tbody")).to_contain_text("人民广场驿站")
    assert await desk.db(desk.app[STORE].store.station_count) == 1
    await context.close()
