"""The webhook reads a flat WeChat message with ElementTree (wechat_protocol.flat_fields) and
must read it exactly as wechatpy's xmltodict-based parse_message does; anything else falls
back to wechatpy. Checked on every sample and on generated bodies."""
from __future__ import annotations

from pathlib import Path

import pytest
import xmltodict
from hypothesis import given, settings, strategies as st
from wechatpy import parse_message

from bot.channels import wechat_protocol as proto
from tests.conftest import DATA, wechat_xml

SAMPLES = sorted(p.stem for p in (DATA / "wechat").glob("*.xml"))


def same_as_wechatpy(xml: str) -> None:
    fields = proto.flat_fields(xml)
    if fields is None:
        return  # wechatpy parses it, as before
    assert fields == dict(xmltodict.parse(xml)["xml"])
    ours, theirs = outcome(lambda: proto.message_from(dict(fields))), outcome(lambda: parse_message(xml))
    assert type(ours) is type(theirs)  # the same message class, or the same error
    if not isinstance(ours, Exception):
        assert ours._data == theirs._data


def outcome(parse):
    try:
        return parse()
    except Exception as exc:
        return exc


@pytest.mark.parametrize("sample", SAMPLES)
def test_every_sample_reads_as_wechatpy_reads_it(sample):
    xml = wechat_xml(sample, content="押金 不给退\n怎么办 ", key="qrscene_123")
    assert proto.flat_fields(xml) is not None  # the fast path is the common path
    same_as_wechatpy(xml)


@pytest.mark.parametrize("xml", [
    "<xml><MsgType>text</MsgType><Content><![CDATA[a]]></Content><Content>b</Content></xml>",  # repeated
    "<xml><MsgType>event</MsgType><Event>scancode_push</Event><ScanCodeInfo><ScanType>qrcode</ScanType>"
    "</ScanCodeInfo></xml>",  # nested (a menu event)
    "<xml a='1'><MsgType>text</MsgType></xml>", "<xml><MsgType x='y'>text</MsgType></xml>",  # attributes
    "<xml>stray<MsgType>text</MsgType></xml>", "<xml><MsgType>text</MsgType>tail</xml>",  # text between
    "<xml><MsgType>text</MsgType><Content></Content><Empty/></xml>",  # empty fields: None
    "<xml><MsgType>  Text  </MsgType><Content><![CDATA[  ]]></Content></xml>",
    "<other><MsgType>text</MsgType></other>", "<xml><a:b>1</a:b><MsgType>text</MsgType></xml>",
    "<xml><MsgType>event</MsgType><Event>subscribe</Event><EventKey>scanbarcode|x</EventKey></xml>",
])
def test_what_is_not_flat_falls_back_and_what_is_reads_the_same(xml):
    same_as_wechatpy(xml)


TAGS = st.sampled_from(["ToUserName", "FromUserName", "CreateTime", "MsgType", "Content", "MsgId", "Event",
                        "EventKey", "Recognition", "MediaId"])
TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=20)


@st.composite
def bodies(draw) -> str:
    parts = ["<xml>", draw(st.sampled_from(["", " ", "\n"]))]
    for tag in [*draw(st.lists(TAGS, max_size=6)), "MsgType"]:
        value = draw(TEXT) if tag != "MsgType" else draw(st.sampled_from(["text", "event", "voice", "image", "x"]))
        body = f"<![CDATA[{value.replace(']]>', '')}]]>" if draw(st.booleans()) else \
            value.replace("&", "&amp;").replace("<", "&lt;")
        parts.append(f"<{tag}>{body}</{tag}>{draw(st.sampled_from(['', ' ', chr(10)]))}")
    return "".join(parts + ["</xml>"])


@settings(max_examples=300, deadline=None, database=None)
@given(bodies())
def test_generated_bodies_read_as_wechatpy_reads_them(xml):
    try:
        xmltodict.parse(xml)
    except Exception:
        return  # not XML (e.g. a control character): both refuse it, tested in test_fuzz.py
    same_as_wechatpy(xml)
