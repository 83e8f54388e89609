"""The caseworker console's JSON API against the real app, real SQLite and a fake WeChat API on
loopback: the whole handoff loop, claiming, WeChat's limits, and live updates."""
from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from bot.app import ESCALATOR, OUTBOX, STORE, create_app
from tests.conftest import Console, add_user, on_db, send_text

pytestmark = pytest.mark.both_backends


async def waiting_id(console: Console, rider_text: str) -> int:
    status, queue = await console.get("/api/queue")
    assert status == 200
    return next(c["id"] for c in queue["conversations"] if rider_text in (c["last_text"] or ""))


async def delivery_state(console: Console, cid: int, text: str, state: str, timeout: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        _, data = await console.get(f"/api/conversations/{cid}")
        message = next(m for m in data["messages"] if m["text"] == text)
        if message["delivery"] and message["delivery"]["state"] == state:
            return message
        assert time.monotonic() < deadline, f"{text!r} is {message['delivery']}, wanted {state}"
        await asyncio.sleep(0.05)


async def test_whole_handoff_loop(client, console, fake_wechat):
    rider = "o_loop"
    assert "工作人员" in await send_text(client, "我要转人工，工资被扣了", openid=rider)
    li = await console("li")
    cid = await waiting_id(li, "转人工")

    status, claimed = await li.post(f"/api/conversations/{cid}/claim")
    assert status == 200 and claimed["state"] == "assigned" and claimed["assigned_to"] == "li"

    status, _ = await li.post(f"/api/conversations/{cid}/messages", {"text": "你好，我是工会的小李，请说说情况"})
    assert status == 200
    sent = await fake_wechat.wait_for_sent(1)
    assert sent[0]["body"] == {"touser": rider, "msgtype": "text", "text": {"content": "你好，我是工会的小李，请说说情况"}}
    await delivery_state(li, cid, "你好，我是工会的小李，请说说情况", "sent")

    # the rider's next message reaches the caseworker, not the bot
    assert await send_text(client, "押金不给退怎么办", openid=rider) == ""
    _, data = await li.get(f"/api/conversations/{cid}")
    last = data["messages"][-1]
    assert (last["direction"], last["text"]) == ("in", "押金不给退怎么办")
    assert not any(m["intent"] and "deposit" in m["intent"] for m in data["messages"])

    status, closed = await li.post(f"/api/conversations/{cid}/close")
    assert status == 200 and closed["state"] == "closed"
    sent = await fake_wechat.wait_for_sent(2)
    assert "结束" in sent[1]["body"]["text"]["content"]

    # closed: the bot answers again, in a new conversation
    answer = await send_text(client, "押金不给退怎么办", openid=rider)
    assert "押金" in answer and "依据" in answer
    _, queue = await li.get("/api/queue")
    assert all(c["id"] != cid for c in queue["conversations"])


async def test_two_simultaneous_claims_one_wins(client, console):
    await send_text(client, "转人工", openid="o_race")
    li, wang = await console("li"), await console("wang")
    cid = await waiting_id(li, "转人工")
    results = await asyncio.gather(li.post(f"/api/conversations/{cid}/claim"),
                                   wang.post(f"/api/conversations/{cid}/claim"))
    statuses = sorted(status for status, _ in results)
    assert statuses == [200, 409]
    winner = next(body for status, body in results if status == 200)["assigned_to"]
    loser = next(body for status, body in results if status == 409)
    assert loser["assigned_to"] == winner and winner in loser["error"]


async def test_transfer_and_release(client, console):
    await send_text(client, "转人工", openid="o_tr")
    li, wang = await console("li"), await console("wang")
    cid = await waiting_id(li, "转人工")
    await li.post(f"/api/conversations/{cid}/claim")
    status, body = await wang.post(f"/api/conversations/{cid}/messages", {"text": "插一句"})
    assert status == 409 and "li" in body["error"]  # only the holder replies
    status, body = await li.post(f"/api/conversations/{cid}/transfer", {"to": "nobody"})
    assert status == 400
    status, body = await li.post(f"/api/conversations/{cid}/transfer", {"to": "wang"})
    assert status == 200 and body["assigned_to"] == "wang"
    status, body = await wang.post(f"/api/conversations/{cid}/release")
    assert status == 200 and body["state"] == "waiting" and body["assigned_to"] is None


async def test_every_action_is_audited(client, console):
    await send_text(client, "转人工", openid="o_audit")
    li = await console("li")
    admin = await console("boss", role="admin")
    cid = await waiting_id(li, "转人工")
    await li.post(f"/api/conversations/{cid}/claim")
    await li.post(f"/api/conversations/{cid}/notes", {"text": "骑手说站长扣了三百"})
    await li.post(f"/api/conversations/{cid}/messages", {"text": "收到"})
    await li.post(f"/api/conversations/{cid}/close")
    status, log = await admin.get("/api/audit")
    assert status == 200
    actions = [(e["actor"], e["action"]) for e in log["entries"] if e["target"] == f"conversation:{cid}"]
    assert set(actions) == {("li", "claim"), ("li", "note"), ("li", "reply"), ("li", "close")}
    assert ("li", "login") in [(e["actor"], e["action"]) for e in log["entries"]]


async def test_notes_are_never_sent_to_the_rider(client, console, fake_wechat):
    await send_text(client, "转人工", openid="o_note")
    li = await console("li")
    cid = await waiting_id(li, "转人工")
    await li.post(f"/api/conversations/{cid}/claim")
    status, _ = await li.post(f"/api/conversations/{cid}/notes", {"text": "内部：疑似站点克扣"})
    assert status == 200
    _, data = await li.get(f"/api/conversations/{cid}")
    assert [n["text"] for n in data["notes"]] == ["内部：疑似站点克扣"]
    assert all(m["text"] != "内部：疑似站点克扣" for m in data["messages"])
    await asyncio.sleep(0.2)
    assert fake_wechat.sent == []


async def test_bot_answers_show_entry_and_score_and_history(client, console):
    await send_text(client, "押金不给退怎么办", openid="o_hist")
    await send_text(client, "转人工", openid="o_hist")
    li = await console("li")
    cid = await waiting_id(li, "转人工")
    _, data = await li.get(f"/api/conversations/{cid}")
    answered = next(m for m in data["messages"] if m["outcome"] == "answer")
    assert answered["intent"] and answered["score"] > 0
    await li.post(f"/api/conversations/{cid}/claim")
    await li.post(f"/api/conversations/{cid}/close")
    await send_text(client, "转人工", openid="o_hist")
    second = await waiting_id(li, "转人工")
    _, data = await li.get(f"/api/conversations/{second}")
    assert [h["id"] for h in data["history"]] == [cid]


async def test_outage_is_retried_and_the_state_shown_is_true(aiohttp_client, settings, fake_wechat):
    fake_wechat.script = [-1, -1]
    app = create_app(settings)
    app[OUTBOX].base_delay = 0.3
    client = await aiohttp_client(app)
    add_user(app, "li")
    li = Console(str(client.make_url("")))
    await li.log_in("li")
    await send_text(client, "转人工", openid="o_out")
    cid = await waiting_id(li, "转人工")
    await li.post(f"/api/conversations/{cid}/claim")
    await li.post(f"/api/conversations/{cid}/messages", {"text": "稍等"})
    queued = await delivery_state(li, cid, "稍等", "queued")
    assert queued["delivery"]["error"] == "微信系统繁忙" or queued["delivery"]["attempts"] == 0
    sent = await delivery_state(li, cid, "稍等", "sent")
    assert sent["delivery"]["attempts"] == 3 and sent["delivery"]["error"] is None
    assert [s["errcode"] for s in fake_wechat.sent] == [-1, -1, 0]
    await li.close()


async def test_reply_written_while_wechat_is_down_goes_out_after_restart(aiohttp_client, settings, fake_wechat):
    down = create_app(settings.with_overrides(wechat_api_base="http://127.0.0.1:9"))
    down[OUTBOX].base_delay = 600  # the retry would be far off: only the restart sends it
    client = await aiohttp_client(down)
    add_user(down, "li")
    li = Console(str(client.make_url("")))
    await li.log_in("li")
    await send_text(client, "转人工", openid="o_down")
    cid = await waiting_id(li, "转人工")
    await li.post(f"/api/conversations/{cid}/claim")
    await li.post(f"/api/conversations/{cid}/messages", {"text": "我们在处理"})
    message = await delivery_state(li, cid, "我们在处理", "queued")
    await li.close()
    await client.close()

    up = create_app(settings)
    up_client = await aiohttp_client(up)
    outbox_id = message["delivery"]["outbox_id"]
    await on_db(up, lambda: up[STORE].store.update_outbox(outbox_id, next_attempt_at=0))
    up[OUTBOX].wake()
    sent = await fake_wechat.wait_for_sent(1)
    assert sent[0]["body"]["text"]["content"] == "我们在处理"


async def test_closed_window_warns_holds_and_sends_template(aiohttp_client, settings, fake_wechat):
    # (an https public_url would make the session cookie Secure, which this plain-http test cannot send)
    app = create_app(settings.with_overrides(wechat_template_id="TPL1", public_url="http://help.example.org"))
    client = await aiohttp_client(app)
    add_user(app, "li")
    li = Console(str(client.make_url("")))
    await li.log_in("li")
    await send_text(client, "转人工", openid="o_win")
    cid = await waiting_id(li, "转人工")
    await li.post(f"/api/conversations/{cid}/claim")
    store = app[STORE].store
    await on_db(app, lambda: store.db["riders"].update("wechat:o_win", {"last_message_at": time.time() - 49 * 3600}))
    _, data = await li.get(f"/api/conversations/{cid}")
    assert data["limits"]["window_open"] is False and "48小时" in data["limits"]["warning"]

    await li.post(f"/api/conversations/{cid}/messages", {"text": "你的事有进展了"})
    held = await delivery_state(li, cid, "你的事有进展了", "held")
    assert "再发消息" in held["delivery"]["error"]
    for _ in range(100):
        if fake_wechat.templates:
            break
        await asyncio.sleep(0.05)
    notice = fake_wechat.templates[0]
    assert notice["touser"] == "o_win" and notice["template_id"] == "TPL1"
    assert notice["data"]["first"]["value"] == "工会工作人员回复了你"
    assert all(len(f["value"]) <= 20 for f in notice["data"].values())
    assert notice["url"] == "http://help.example.org"
    assert fake_wechat.sent == []  # the closed window was known: WeChat was not even asked

    # the rider writes again: the held reply goes out by itself
    await send_text(client, "什么进展", openid="o_win")
    sent = await fake_wechat.wait_for_sent(1)
    assert sent[0]["body"]["text"]["content"] == "你的事有进展了"
    assert len(fake_wechat.templates) == 1
    await li.close()


async def test_quota_of_five_replies_is_tracked(client, console, fake_wechat):
    await send_text(client, "转人工", openid="o_quota")
    li = await console("li")
    cid = await waiting_id(li, "转人工")
    await li.post(f"/api/conversations/{cid}/claim")
    for n in range(4):
        await li.post(f"/api/conversations/{cid}/messages", {"text": f"第{n + 1}条"})
    await fake_wechat.wait_for_sent(4)
    _, data = await li.get(f"/api/conversations/{cid}")
    assert data["limits"]["left"] == 1 and "还能回复 1 条" in data["limits"]["warning"]
    await li.post(f"/api/conversations/{cid}/messages", {"text": "第5条"})
    await li.post(f"/api/conversations/{cid}/messages", {"text": "第6条"})
    await delivery_state(li, cid, "第6条", "held")
    _, data = await li.get(f"/api/conversations/{cid}")
    assert data["limits"]["left"] == 0 and "用完" in data["limits"]["warning"]
    assert len(fake_wechat.sent) == 5


async def test_quota_refusal_from_wechat_is_held_with_plain_reason(client, console, fake_wechat):
    fake_wechat.script = [45047]
    await send_text(client, "转人工", openid="o_q2")
    li = await console("li")
    cid = await waiting_id(li, "转人工")
    await li.post(f"/api/conversations/{cid}/claim")
    await li.post(f"/api/conversations/{cid}/messages", {"text": "你好"})
    held = await delivery_state(li, cid, "你好", "held")
    assert "5条" in held["delivery"]["error"]
    status, _ = await li.post(f"/api/outbox/{held['delivery']['outbox_id']}/retry")
    assert status == 200
    await delivery_state(li, cid, "你好", "sent")


async def test_web_chat_rider_sees_the_caseworker_reply(client, console, fake_wechat):
    resp = await client.post("/chat/api/messages", json={"text": "我要找人工"})
    assert resp.status == 200
    li = await console("li")
    cid = await waiting_id(li, "人工")
    await li.post(f"/api/conversations/{cid}/claim")
    status, _ = await li.post(f"/api/conversations/{cid}/messages", {"text": "你好，我是小李"})
    assert status == 200
    resp = await client.get("/chat/api/messages")
    messages = (await resp.json())["messages"]
    assert messages[-1]["text"] == "你好，我是小李" and messages[-1]["from"] == "li"
    _, data = await li.get(f"/api/conversations/{cid}")
    assert data["limits"]["warning"] is None
    assert fake_wechat.sent == []  # web riders are not WeChat users


async def test_rider_can_go_back_to_the_bot_while_assigned(client, console):
    await send_text(client, "转人工", openid="o_back")
    li = await console("li")
    cid = await waiting_id(li, "转人工")
    await li.post(f"/api/conversations/{cid}/claim")
    assert "回到自动回答" in await send_text(client, "结束人工", openid="o_back")
    _, data = await li.get(f"/api/conversations/{cid}")
    assert data["conversation"]["state"] == "closed"
    status, body = await li.post(f"/api/conversations/{cid}/messages", {"text": "还在吗"})
    assert status == 409 and "结束" in body["error"]


async def test_waiting_rider_is_told_once_not_on_every_message(client):
    await send_text(client, "转人工", openid="o_hold")
    assert "已转给工作人员" in await send_text(client, "我在朝阳区送外卖", openid="o_hold")
    assert await send_text(client, "站长扣了我三百块", openid="o_hold") == ""
    rows = client.app[STORE].store.rider_messages("wechat:o_hold")
    assert "站长扣了我三百块" in [r["text"] for r in rows]  # recorded for the caseworker


async def test_unclaimed_conversation_is_escalated_to_wecom(aiohttp_client, aiohttp_server, settings, fake_wechat):
    heard: list[dict] = []

    async def robot(request):
        heard.append(await request.json())
        return aiohttp.web.json_response({"errcode": 0, "errmsg": "ok"})

    wecom = aiohttp.web.Application()
    wecom.router.add_post("/cgi-bin/webhook/send", robot)
    server = await aiohttp_server(wecom)
    app = create_app(settings.with_overrides(wecom_webhook_url=str(server.make_url("/cgi-bin/webhook/send")),
                                             escalate_after_minutes=15, escalate_urgent_after_minutes=3,
                                             public_url="http://help.example.org"))
    client = await aiohttp_client(app)
    await send_text(client, "转人工 我的手机号13812345678", openid="o_esc")
    await send_text(client, "有人拿刀要砍我", openid="o_esc2")
    store = app[STORE].store
    assert await app[ESCALATOR].check_once() == []  # nobody has waited long enough yet
    for row in store.conversations_in_state("waiting"):
        store.update_conversation(row["id"], row["updated_at"], waiting_since=time.time() - 4 * 60)
    escalated = await app[ESCALATOR].check_once()
    assert [c["urgent"] for c in escalated] == [1]  # only the urgent one is overdue after 4 minutes
    assert len(heard) == 1
    notice = heard[0]["text"]["content"]
    assert "紧急" in notice and "http://help.example.org/console" in notice
    assert "13812345678" not in notice and "刀" not in notice  # no rider content in a group chat
    assert await app[ESCALATOR].check_once() == []  # announced once
    add_user(app, "li")
    li = Console(str(client.make_url("")))
    await li.log_in("li")
    _, queue = await li.get("/api/queue")
    assert [c["overdue"] for c in queue["conversations"]] == [True, False]  # urgent first, shown red
    await li.close()


async def test_after_hours_the_rider_is_told_when_a_person_replies(aiohttp_client, settings):
    tomorrow = time.localtime(time.time() + 86400)
    day = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[tomorrow.tm_wday]
    app = create_app(settings.with_overrides(office_hours=f"{day} 09:00-10:00", timezone="UTC"))
    client = await aiohttp_client(app)
    reply = await send_text(client, "转人工", openid="o_night")
    assert "不是工作时间" in reply and "09:00" in reply
    open_app = create_app(settings.with_overrides(office_hours="always",
                                                  data_dir=settings.data_dir + "-2"))
    open_client = await aiohttp_client(open_app)
    assert "不是工作时间" not in await send_text(open_client, "转人工", openid="o_day")


async def next_event(stream) -> str:
    lines = []
    while True:
        line = (await asyncio.wait_for(stream.content.readline(), 5)).decode().strip()
        if not line and lines:
            return "\n".join(lines)
        if line and not line.startswith(":"):  # ":" lines are keep-alive pings
            lines.append(line)


async def test_live_events_announce_new_conversations(client, console):
    li = await console("li")
    async with li.session.get(li.base + "/api/events") as stream:
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        first = await next_event(stream)
        assert "event: changed" in first
        await send_text(client, "转人工", openid="o_live")
        second = await next_event(stream)
        assert "event: changed" in second and first != second


async def test_live_events_announce_what_a_rider_wrote_to_another_instance(client, console, aiohttp_client, settings):
    """Two instances sharing one database (workers on one SQLite file, or hosts on PostgreSQL):
    a console page open on the first hears of a rider's message the second took
    (storage.live.SQLiteChangeFeed's data_version, storage.postgres.ChangeFeed's NOTIFY)."""
    from bot.app import CHANGE_FEED
    other = await aiohttp_client(create_app(settings))
    li = await console("li")
    async with li.session.get(li.base + "/api/events") as stream:
        first = await next_event(stream)
        await asyncio.sleep(0.3)  # both instances are listening by now
        await send_text(other, "转人工", openid="o_live_elsewhere")
        second = await asyncio.wait_for(next_event(stream), 10)
        assert "event: changed" in second and first != second
    assert client.app[CHANGE_FEED].heard >= 1
