"""The persisted outbox against a fake WeChat API on loopback: retries, token refresh,
permanent failures with their reason, and resuming after a restart."""
from __future__ import annotations

import asyncio

import pytest

from bot.app import OUTBOX, STORE, create_app
from tests.conftest import on_db, send_text

pytestmark = pytest.mark.both_backends


async def wait_state(app, item_id, state, timeout=10.0):
    for _ in range(int(timeout / 0.02)):
        item = await on_db(app, app[STORE].store.outbox_item, item_id)
        if item["state"] == state:
            return item
        await asyncio.sleep(0.02)
    raise AssertionError(f"outbox item {item_id} is {item}, wanted {state}")


async def test_busy_wechat_is_retried_until_sent(aiohttp_client, settings, fake_wechat):
    fake_wechat.script = [-1, 45009]
    app = create_app(settings)
    app[OUTBOX].base_delay = 0.02
    client = await aiohttp_client(app)
    item_id = await app[OUTBOX].enqueue("wechat:o_1", "o_1", "你好")
    item = await wait_state(client.app, item_id, "sent")
    assert item["attempts"] == 3
    assert [s["errcode"] for s in fake_wechat.sent] == [-1, 45009, 0]
    assert fake_wechat.sent[-1]["body"] == {"touser": "o_1", "msgtype": "text", "text": {"content": "你好"}}


async def test_expired_token_is_refreshed_once(aiohttp_client, settings, fake_wechat):
    fake_wechat.script = [42001]
    app = create_app(settings)
    client = await aiohttp_client(app)
    item_id = await app[OUTBOX].enqueue("wechat:o_2", "o_2", "你好")
    await wait_state(client.app, item_id, "sent")
    assert [s["errcode"] for s in fake_wechat.sent] == [42001, 0]
    assert [s["token"] for s in fake_wechat.sent] == ["TOKEN1", "TOKEN2"]
    assert fake_wechat.token_calls[1]["force_refresh"] is True


async def test_closed_window_holds_the_message_until_the_rider_writes(aiohttp_client, settings, fake_wechat):
    fake_wechat.script = [45015]
    app = create_app(settings)
    client = await aiohttp_client(app)
    item_id = await app[OUTBOX].enqueue("wechat:o_3", "o_3", "你好")
    item = await wait_state(client.app, item_id, "held")
    assert "48小时" in item["last_error"]
    await asyncio.sleep(0.1)
    assert len(fake_wechat.sent) == 1  # not retried against a closed window
    await send_text(client, "在吗", openid="o_3")  # the rider writes: the window opens again
    await wait_state(client.app, item_id, "sent")
    assert [s["body"]["text"]["content"] for s in fake_wechat.sent] == ["你好", "你好"]


async def test_unsubscribed_rider_fails_with_plain_reason(aiohttp_client, settings, fake_wechat):
    fake_wechat.script = [43004]
    app = create_app(settings)
    client = await aiohttp_client(app)
    item_id = await app[OUTBOX].enqueue("wechat:o_5", "o_5", "你好")
    item = await wait_state(client.app, item_id, "failed")
    assert "未关注" in item["last_error"] and item["attempts"] == 1


async def test_queued_message_survives_restart(aiohttp_client, settings, fake_wechat):
    down = create_app(settings.with_overrides(wechat_api_base="http://127.0.0.1:9"))  # nothing listens
    down[OUTBOX].base_delay = 60  # the first attempt fails; the retry would be far off
    client = await aiohttp_client(down)
    item_id = await down[OUTBOX].enqueue("wechat:o_4", "o_4", "还在吗")
    item = await wait_state(client.app, item_id, "queued")
    for _ in range(200):
        item = await on_db(client.app, client.app[STORE].store.outbox_item, item_id)
        if item["attempts"]:
            break
        await asyncio.sleep(0.02)
    assert item["attempts"] == 1 and "连不上微信" in item["last_error"]
    await client.close()
    # restarted with WeChat reachable and the retry due: it goes out
    up = create_app(settings)
    up_client = await aiohttp_client(up)
    await on_db(up, lambda: up[STORE].store.update_outbox(item_id, next_attempt_at=0))
    up[OUTBOX].wake()
    await wait_state(up_client.app, item_id, "sent")
    assert fake_wechat.sent[0]["body"]["text"]["content"] == "还在吗"
