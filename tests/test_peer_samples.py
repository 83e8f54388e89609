"""Every inbound message/event sample from the test suites of wechatpy and WeRoBot, replayed
unchanged through the real /wechat webhook (provenance and licences: tests/data/peers/SOURCES.md).

The samples keep their old CreateTime: the webhook checks only the signature's timestamp in the
query string (built fresh by signed_query), never the XML's CreateTime. Each test gets its own
app and database, so the event dedupe key (openid, CreateTime, Event, EventKey) cannot collide
across samples."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.conftest import signed_query

PEERS = Path(__file__).parent / "data" / "peers"
SAMPLES = sorted(PEERS.glob("*/*.xml"))

# A plain subscribe (no EventKey): the welcome every kind of subscribe should get.
PLAIN_SUBSCRIBE = PEERS / "wechatpy" / "001_events_subscribe_event.xml"

# The two defects this replay found (both fixed in the engine, now bot/conversation/events.py): a subscribe from a product
# page got no welcome, and scancode_waitmsg got "success" (WeChat shows 消息接收中 until a
# reply comes). These sets name the samples of each, checked below to stay exact.
SUBSCRIBE_SCAN_PRODUCT = {  # subscribe with EventKey "scanbarcode|..." / "scanimage|..."
    "wechatpy/045_parser_parse_subscribe_scan_product_event.xml",
    "wechatpy/046_parser_parse_subscribe_scan_product_event_2.xml",
}
SCANCODE_WAITMSG = {
    "wechatpy/010_events_scan_code_waitmsg_event.xml",
    "werobot/007_handler_scan_waitmsg_handler.xml",
    "werobot/053_parser_scan_waitmsg_event.xml",
}


def name_of(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


def field(root: ET.Element, tag: str) -> str:
    # .strip(): WeRoBot's card samples put spaces around their CDATA (<X> <![CDATA[v]]> </X>);
    # the webhook's parser (xmltodict) strips them too.
    return (root.findtext(tag) or "").strip()


def is_subscribe_scan_product(root: ET.Element) -> bool:
    return (field(root, "MsgType").lower() == "event" and field(root, "Event").lower() == "subscribe"
            and field(root, "EventKey").startswith(("scanbarcode|", "scanimage|")))


def is_scancode_waitmsg(root: ET.Element) -> bool:
    return field(root, "MsgType").lower() == "event" and field(root, "Event").lower() == "scancode_waitmsg"


def param(path: Path):
    return pytest.param(path, id=name_of(path))


async def replay(client, xml: str) -> str | None:
    """POST the sample signed, as WeChat would; check the reply; return its Content, or None
    when the webhook answered "success"."""
    sample = ET.fromstring(xml)
    resp = await client.post(signed_query(), data=xml.encode("utf-8"))
    body = await resp.text()
    assert resp.status < 500, f"{resp.status}: {body}"
    assert resp.status == 200, f"{resp.status}: {body}"
    if body == "success":
        return None
    try:
        reply = ET.fromstring(body)
    except ET.ParseError as exc:
        raise AssertionError(f"reply is neither 'success' nor well-formed XML ({exc}): {body!r}") from None
    assert reply.tag == "xml", body
    assert field(reply, "ToUserName") == field(sample, "FromUserName"), body
    assert field(reply, "FromUserName") == field(sample, "ToUserName"), body
    assert field(reply, "MsgType") == "text", body
    content = reply.findtext("Content") or ""
    assert content.strip(), body
    return content


def test_there_are_enough_samples():
    per_peer = {peer.name: len(list(peer.glob("*.xml"))) for peer in PEERS.iterdir() if peer.is_dir()}
    assert set(per_peer) == {"wechatpy", "werobot"}, per_peer
    assert len(SAMPLES) >= 100, per_peer


def test_the_defect_sets_name_exactly_the_affected_samples():
    roots = {name_of(p): ET.fromstring(p.read_text("utf-8")) for p in SAMPLES}
    assert SUBSCRIBE_SCAN_PRODUCT == {n for n, r in roots.items() if is_subscribe_scan_product(r)}
    assert SCANCODE_WAITMSG == {n for n, r in roots.items() if is_scancode_waitmsg(r)}
    assert PLAIN_SUBSCRIBE.exists()
    plain = roots[name_of(PLAIN_SUBSCRIBE)]
    assert field(plain, "Event") == "subscribe" and not field(plain, "EventKey")


@pytest.mark.parametrize("sample", [param(p) for p in SAMPLES])
async def test_peer_sample_gets_success_or_a_text_reply(client, sample):
    xml = sample.read_text("utf-8")
    root = ET.fromstring(xml)
    content = await replay(client, xml)

    if is_scancode_waitmsg(root):
        assert content is not None, "scancode_waitmsg was answered 'success'; WeChat shows 消息接收中"

    if is_subscribe_scan_product(root):
        # A different rider (the plain sample's FromUserName), so neither reply sees the other's state.
        welcome = await replay(client, PLAIN_SUBSCRIBE.read_text("utf-8"))
        assert welcome, "a plain subscribe got no welcome"
        assert content == welcome
