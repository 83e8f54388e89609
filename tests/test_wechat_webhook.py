"""The WeChat webhook driven through the real app with real XML samples."""
from __future__ import annotations

import asyncio
import time

import pytest
import xmltodict
from wechatpy.crypto import WeChatCrypto

from bot.app import ENGINE, STORE, create_app
from tests.conftest import AES_KEY, APPID, TOKEN, reply_content, send_text, sign, signed_query, wechat_xml

pytestmark = pytest.mark.both_backends


async def post(client, xml: str | bytes, **query):
    body = xml.encode() if isinstance(xml, str) else xml
    return await client.post(signed_query(**query), data=body)


async def test_url_verification_echoes_echostr(client):
    # on the wire as WeChat sends it: percent-encoded once
    resp = await client.get(signed_query() + "&echostr=7316521906281950%2B")
    assert resp.status == 200
    # aiohttp decodes the query once: the rider's echostr comes back as WeChat meant it
    assert await resp.text() == "7316521906281950+"


async def test_url_verification_refuses_bad_signature(client):
    resp = await client.get(signed_query(token="wrong-token", echostr="123"))
    assert resp.status == 403
    assert "123" not in await resp.text()


async def test_text_message_answered_from_faq_and_stored(client):
    content = await send_text(client, "押金不给退怎么办")
    assert "押金" in content and "依据" in content
    store = client.app[STORE].store
    rows = store.rider_messages("wechat:o_rider_1")
    assert [r["direction"] for r in rows] == ["in", "out"]
    assert rows[0]["text"] == "押金不给退怎么办"
    assert rows[1]["intent"] == "pay-deposit" and rows[1]["score"] > 0 and rows[1]["outcome"] == "answer"
    rider = store.rider("wechat:o_rider_1")
    assert rider["last_message_at"] == pytest.approx(time.time(), abs=30)


@pytest.mark.parametrize("sample, expected", [
    ("voice", "没听清"),
    ("image", "收到了"),
    ("video", "收到了"),
    ("shortvideo", "收到了"),
    ("link", "收到了"),
    ("location", "工会户外劳动者服务站点"),
    ("event_subscribe", "欢迎关注"),
    ("event_subscribe_scan", "欢迎关注"),
])
async def test_message_types_get_their_reply(client, sample, expected):
    resp = await post(client, wechat_xml(sample))
    assert resp.status == 200
    assert expected in reply_content(await resp.text())


@pytest.mark.parametrize("sample", ["unknown", "event_view", "event_scan", "event_location", "event_unknown"])
async def test_types_needing_no_reply_get_success(client, sample):
    resp = await post(client, wechat_xml(sample))
    assert resp.status == 200
    assert await resp.text() == "success"


async def test_voice_recognition_is_treated_as_text(client):
    resp = await post(client, wechat_xml("voice_recognition", content="我想转人工"))
    assert "工作人员" in reply_content(await resp.text())
    conversation = client.app[STORE].store.conversations_in_state("waiting")
    assert len(conversation) == 1


async def test_unsubscribe_is_recorded(client):
    await post(client, wechat_xml("event_subscribe", openid="o_leaver"))
    resp = await post(client, wechat_xml("event_unsubscribe", openid="o_leaver"))
    assert await resp.text() == "success"
    rider = client.app[STORE].store.rider("wechat:o_leaver")
    assert rider["subscribed"] == 0 and rider["unsubscribed_at"] is not None


async def test_menu_click_answers_its_faq_entry(client):
    kb = client.app[ENGINE].brain.kb
    key, entry_id = next(iter(kb.menu.items()))
    resp = await post(client, wechat_xml("event_click", key=key))
    content = reply_content(await resp.text())
    assert kb.entry(entry_id).sources[0].cite() in content


async def test_reply_escapes_cdata_terminator(client):
    # A rider's "]]>" must not end the reply's CDATA early; the reply must parse back whole.
    from bot.channels.wechat_protocol import text_reply_xml
    from wechatpy import parse_message
    message = parse_message(wechat_xml("text", content="x"))
    xml = text_reply_xml(message, "a]]>b<xml>c")
    assert xmltodict.parse(xml)["xml"]["Content"] == "a]]>b<xml>c"


async def test_long_answer_is_split_within_2048_bytes_and_continued(client, monkeypatch):
    engine = client.app[ENGINE]
    long_body = "\n".join(f"第{i}步：" + "请保存好订单截图和聊天记录。" * 6 for i in range(1, 30))
    entry = engine.brain.kb.entry("pay-deposit")
    monkeypatch.setattr(type(engine.brain.kb), "render_answer", lambda self, e, ctx: long_body)
    parts = [await send_text(client, "押金不给退怎么办", openid="o_long")]
    while "更多" in parts[-1]:
        parts.append(await send_text(client, "更多", openid="o_long"))
    assert len(parts) >= 3
    assert all(len(p.encode()) <= 2048 for p in parts)
    joined = "\n".join(p.split("\n（还有下文")[0] for p in parts)
    assert "第1步" in joined and "第29步" in joined  # nothing lost
    assert entry is not None


async def test_retry_gets_same_reply_and_is_stored_once(client):
    xml = wechat_xml("text", openid="o_retry", content="押金不给退怎么办", msgid="555000111")
    first = await post(client, xml)
    second = await post(client, xml)
    assert await first.text() != "success"
    assert reply_content(await first.text()) == reply_content(await second.text())
    rows = client.app[STORE].store.rider_messages("wechat:o_retry")
    assert len([r for r in rows if r["direction"] == "in"]) == 1


async def test_concurrent_retry_during_first_delivery_gets_same_reply(client):
    xml = wechat_xml("text", openid="o_burst", content="工资被拖欠怎么办", msgid="777")
    responses = await asyncio.gather(*(post(client, xml) for _ in range(3)))
    texts = {reply_content(await r.text()) for r in responses}
    assert len(texts) == 1
    rows = client.app[STORE].store.rider_messages("wechat:o_burst")
    assert len([r for r in rows if r["direction"] == "in"]) == 1


async def test_same_msgid_from_two_riders_is_not_a_retry(client):
    a = await send_text(client, "押金不给退怎么办", openid="o_a", msgid="42")
    b = await send_text(client, "押金不给退怎么办", openid="o_b", msgid="42")
    assert a and b
    assert len(client.app[STORE].store.rider_messages("wechat:o_b")) == 2


async def test_retry_after_restart_is_recognised(aiohttp_client, settings):
    xml = wechat_xml("text", openid="o_restart", content="押金不给退怎么办", msgid="9001")
    first_client = await aiohttp_client(create_app(settings))
    first_reply = reply_content(await (await post(first_client, xml)).text())
    await first_client.close()  # the process goes away; the database file stays
    second_client = await aiohttp_client(create_app(settings))
    retry = await post(second_client, xml)
    assert reply_content(await retry.text()) == first_reply
    rows = second_client.app[STORE].store.rider_messages("wechat:o_restart")
    assert len([r for r in rows if r["direction"] == "in"]) == 1


async def test_event_retries_deduped_by_openid_time_and_event(client):
    xml = wechat_xml("event_subscribe", openid="o_sub", time="1700000000")
    await post(client, xml)
    await post(client, xml)
    rows = client.app[STORE].store.rider_messages("wechat:o_sub")
    assert len([r for r in rows if r["direction"] == "in"]) == 1


async def test_slow_answer_goes_through_customer_service_api(aiohttp_client, settings, fake_wechat):
    app = create_app(settings.with_overrides(reply_deadline=0.3))
    engine = app[ENGINE]
    real_decide = engine.decide

    def slow_decide(turn):
        time.sleep(0.8)  # the database thread is busy, e.g. under a burst of messages
        return real_decide(turn)

    engine.decide = slow_decide
    client = await aiohttp_client(app)
    xml = wechat_xml("text", openid="o_slow", content="押金不给退怎么办", msgid="31337")
    resp = await post(client, xml)
    assert await resp.text() == "success"
    retry = await post(client, xml)  # WeChat's retry while we are still working
    assert await retry.text() == "success"
    sent = await fake_wechat.wait_for_sent(1)
    assert len(sent) == 1
    assert sent[0]["body"]["touser"] == "o_slow" and sent[0]["body"]["msgtype"] == "text"
    assert "押金" in sent[0]["body"]["text"]["content"]
    assert sent[0]["token"] == "TOKEN1"
    assert fake_wechat.token_calls[0]["appid"] == settings.wechat_appid
    await asyncio.sleep(0.2)
    late_retry = await post(client, xml)  # a retry after the late answer went out stays quiet
    assert await late_retry.text() == "success"
    assert len(fake_wechat.sent) == 1


async def test_a_late_answer_pending_at_shutdown_is_queued_before_the_database_closes(aiohttp_client, settings):
    app = create_app(settings.with_overrides(reply_deadline=0.2))
    engine, store = app[ENGINE], app[STORE].store
    real_decide = engine.decide

    def slow_decide(turn):
        time.sleep(0.6)  # still working when the server is told to stop
        return real_decide(turn)

    engine.decide = slow_decide
    client = await aiohttp_client(app)
    xml = wechat_xml("text", openid="o_stopping", content="押金不给退怎么办", msgid="4242")
    assert await (await post(client, xml)).text() == "success"  # WeChat was told "later"
    await client.close()  # shutdown: cleanup runs now, while the answer is still being worked out

    reopened = store.reopen()
    queued = list(reopened.db.query("SELECT text FROM outbox WHERE openid = 'o_stopping'"))
    reopened.close()
    assert len(queued) == 1 and "押金" in queued[0]["text"]


# --- safe and compatible mode -------------------------------------------------------------

@pytest.fixture
async def aes_client(aiohttp_client, settings):
    return await aiohttp_client(create_app(settings.with_overrides(wechat_aes_key=AES_KEY)))


def encrypted_post(xml: str, timestamp: str, nonce: str) -> tuple[str, str]:
    crypto = WeChatCrypto(TOKEN, AES_KEY, APPID)
    envelope = xmltodict.parse(crypto.encrypt_message(xml, nonce, timestamp))["xml"]
    body = f"<xml><ToUserName><![CDATA[gh_union_account]]></ToUserName>" \
           f"<Encrypt><![CDATA[{envelope['Encrypt']}]]></Encrypt></xml>"
    return body, envelope["MsgSignature"]


async def test_safe_mode_round_trip(aes_client):
    timestamp, nonce = str(int(time.time())), "424242"
    body, msg_signature = encrypted_post(wechat_xml("text", content="押金不给退怎么办"), timestamp, nonce)
    resp = await aes_client.post(signed_query(timestamp=timestamp, nonce=nonce, encrypt_type="aes",
                                              msg_signature=msg_signature), data=body.encode())
    assert resp.status == 200
    encrypted_reply = await resp.text()
    assert "<Encrypt>" in encrypted_reply and "押金" not in encrypted_reply
    crypto = WeChatCrypto(TOKEN, AES_KEY, APPID)
    envelope = xmltodict.parse(encrypted_reply)["xml"]
    assert envelope["MsgSignature"] == sign(TOKEN, envelope["TimeStamp"], envelope["Nonce"], envelope["Encrypt"])
    plain = crypto.decrypt_message(encrypted_reply, envelope["MsgSignature"], envelope["TimeStamp"],
                                   envelope["Nonce"])
    assert "押金" in reply_content(plain)


async def test_safe_mode_refuses_bad_msg_signature(aes_client):
    timestamp, nonce = str(int(time.time())), "1"
    body, _ = encrypted_post(wechat_xml("text"), timestamp, nonce)
    resp = await aes_client.post(signed_query(timestamp=timestamp, nonce=nonce, encrypt_type="aes",
                                              msg_signature="0" * 40), data=body.encode())
    assert resp.status == 403


async def test_safe_mode_refuses_other_appid(aes_client):
    timestamp, nonce = str(int(time.time())), "2"
    crypto = WeChatCrypto(TOKEN, AES_KEY, "wxSOMEONEELSE")
    envelope = xmltodict.parse(crypto.encrypt_message(wechat_xml("text"), nonce, timestamp))["xml"]
    body = f"<xml><Encrypt><![CDATA[{envelope['Encrypt']}]]></Encrypt></xml>"
    resp = await aes_client.post(signed_query(timestamp=timestamp, nonce=nonce, encrypt_type="aes",
                                              msg_signature=envelope["MsgSignature"]), data=body.encode())
    assert resp.status == 403


@pytest.mark.parametrize("junk", ["not-base64!!", "QUJD", "A" * 64])
async def test_safe_mode_junk_ciphertext_is_400(aes_client, junk):
    timestamp, nonce = str(int(time.time())), "3"
    body = f"<xml><Encrypt><![CDATA[{junk}]]></Encrypt></xml>"
    resp = await aes_client.post(signed_query(timestamp=timestamp, nonce=nonce, encrypt_type="aes",
                                              msg_signature=sign(TOKEN, timestamp, nonce, junk)),
                                 data=body.encode())
    assert resp.status == 400


async def test_compatible_mode_plaintext_still_accepted_with_aes_key(aes_client):
    resp = await post(aes_client, wechat_xml("text", content="押金不给退怎么办"))
    assert "押金" in reply_content(await resp.text())


# --- bad input table ------------------------------------------------------------------------

GOOD = None  # placeholder replaced per case below


def _bad_cases():
    now = str(int(time.time()))
    text = wechat_xml("text")
    return [
        ("broken xml", "/q", b"<xml><ToUserName>", 400),
        ("wrong root", "/q", b"<root><MsgType>text</MsgType></root>", 400),
        ("no MsgType", "/q", b"<xml><FromUserName>o</FromUserName></xml>", 400),
        ("empty MsgType", "/q", b"<xml><FromUserName>o</FromUserName><MsgType></MsgType></xml>", 400),
        ("no FromUserName", "/q", b"<xml><MsgType>text</MsgType><Content>hi</Content></xml>", 400),
        ("entity declaration", "/q",
         b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><xml><MsgType>&a;</MsgType></xml>', 400),
        ("billion laughs", "/q", b'<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><xml/>', 400),
        ("oversized body", "/q", b"<xml>" + b"a" * 70000 + b"</xml>", 413),
        ("empty body", "/q", b"", 400),
        ("invalid utf-8", "/q", text.encode()[:40] + b"\xff\xfe\xfd" + text.encode()[40:], 400),
        ("bad signature", "/badsig", text.encode(), 403),
        ("missing signature", "/nosig", text.encode(), 403),
        ("stale timestamp", "/stale", text.encode(), 403),
        ("malformed timestamp", "/badts", text.encode(), 400),
        ("encrypted without key", "/aes", b"<xml><Encrypt>abc</Encrypt></xml>", 400),
        ("not xml at all", "/q", b"\x00\x01\x02 binary junk", 400),
        ("json instead of xml", "/q", b'{"MsgType": "text"}', 400),
    ], now


def _query(kind: str, now: str) -> str:
    if kind == "/badsig":
        return signed_query(token="not-the-token")
    if kind == "/nosig":
        return f"/wechat?timestamp={now}&nonce=1"
    if kind == "/stale":
        old = str(int(time.time()) - 3600)
        return signed_query(timestamp=old)
    if kind == "/badts":
        return f"/wechat?timestamp=yesterday&nonce=1&signature={sign(TOKEN, 'yesterday', '1')}"
    if kind == "/aes":
        return signed_query(encrypt_type="aes", msg_signature="x")
    return signed_query()


@pytest.mark.parametrize("name, kind, body, status", _bad_cases()[0], ids=[c[0] for c in _bad_cases()[0]])
async def test_bad_input_table(client, caplog, name, kind, body, status):
    resp = await client.post(_query(kind, str(int(time.time()))), data=body)
    assert resp.status == status, await resp.text()
    assert any("refused" in r.getMessage() for r in caplog.records)
    # nothing reached the engine
    assert client.app[STORE].store.db["messages"].count == 0


async def test_unknown_message_type_recorded_and_answered_success(client):
    resp = await post(client, wechat_xml("unknown", openid="o_mini"))
    assert await resp.text() == "success"
    rows = client.app[STORE].store.rider_messages("wechat:o_mini")
    assert [r["kind"] for r in rows] == ["unknown"]


@pytest.mark.provokes_an_internal_error
async def test_an_internal_failure_still_answers_success_and_is_logged(client, caplog):
    engine = client.app[ENGINE]

    def broken(turn):
        raise RuntimeError("simulated bug")

    engine.decide = broken
    resp = await post(client, wechat_xml("text", openid="o_bug"))
    # WeChat shows riders "该公众号暂时无法提供服务" for anything but XML or success
    assert resp.status == 200 and await resp.text() == "success"
    assert any("simulated bug" in (r.exc_text or "") or "unhandled" in r.getMessage() for r in caplog.records)
    # the transaction rolled back: WeChat's retry is handled as a first delivery
    assert client.app[STORE].store.db["deliveries"].count == 0
