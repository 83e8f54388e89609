"""WeChat Official Account protocol as plain functions: signatures, decryption, parsing into
Inbound, and passive reply XML. No aiohttp here, so every function is easy to test alone.
See ../shared/wechat-protocol.md for the facts behind each rule."""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import struct
import time
from dataclasses import dataclass
from typing import Any
from xml.etree import ElementTree
from xml.parsers.expat import ExpatError

import xmltodict
from wechatpy import parse_message
from wechatpy.crypto import PrpCrypto, WeChatCrypto
from wechatpy.events import EVENT_TYPES
from wechatpy.exceptions import InvalidAppIdException
from wechatpy.messages import MESSAGE_TYPES, BaseMessage, UnknownMessage

from bot.conversation import Inbound

# DTDs are refused before any parser sees the body: entity expansion is the classic XML bomb.
_DTD = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
# Inbound media/message kinds the engine knows; anything else arrives as "unknown".
_KINDS = {"text", "voice", "image", "video", "shortvideo", "location", "link", "file"}


class Refused(Exception):
    """The request is refused: status is the HTTP status to answer, reason goes to the log."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


def signature(*parts: str) -> str:
    """WeChat's signature: sha1 of the sorted, concatenated parts."""
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8", "surrogatepass")).hexdigest()


def check_signature(expected_parts: tuple[str, ...], given: str | None) -> None:
    # Constant time: wechatpy compares with != and leaks how much of a guess was right. As bytes:
    # compare_digest raises TypeError on a non-ASCII str.
    if not given or not hmac.compare_digest(signature(*expected_parts).encode(),
                                            given.lower().encode("utf-8", "surrogatepass")):
        raise Refused(403, "bad signature")


def check_timestamp(timestamp: str | None, tolerance: int, now: float | None = None) -> None:
    # isascii(): "²".isdigit() is True but int("²") raises (found by tests/test_fuzz.py).
    if not timestamp or not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > 12:
        raise Refused(400, "missing or malformed timestamp")
    if abs((now or time.time()) - int(timestamp)) > tolerance:
        # Replay protection; WeChat's own retries reuse the original timestamp, well inside this.
        raise Refused(403, "stale timestamp")


def refuse_dtd(body: bytes) -> None:
    if _DTD.search(body):
        raise Refused(400, "DOCTYPE/ENTITY declarations are not accepted")


def decode_body(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused(400, "body is not UTF-8") from None


@dataclass(frozen=True)
class SafeMode:
    token: str
    aes_key: str
    appid: str

    def decrypt(self, body: str, msg_signature: str | None, timestamp: str, nonce: str) -> str:
        try:
            encrypt = xmltodict.parse(body)["xml"]["Encrypt"]
        except (ExpatError, KeyError, TypeError, ValueError):
            raise Refused(400, "encrypted body without <Encrypt>") from None
        if not isinstance(encrypt, str):
            raise Refused(400, "malformed <Encrypt>")
        check_signature((self.token, timestamp, nonce, encrypt), msg_signature)
        key = base64.b64decode(self.aes_key + "=")
        try:
            xml = PrpCrypto(key).decrypt(encrypt, self.appid)
        except InvalidAppIdException:
            raise Refused(403, "message for another AppID") from None
        except (binascii.Error, ValueError, struct.error, UnicodeDecodeError, IndexError, TypeError):
            raise Refused(400, "ciphertext does not decrypt") from None
        return xml if isinstance(xml, str) else xml.decode("utf-8", errors="replace")

    def encrypt(self, xml: str, nonce: str, timestamp: str) -> str:
        return WeChatCrypto(self.token, self.aes_key, self.appid).encrypt_message(xml, nonce, timestamp)


def flat_fields(xml: str) -> dict[str, Any] | None:
    """The fields of a flat <xml> message (every WeChat message but a few menu events) exactly
    as xmltodict reads them, with ElementTree's C parser: xmltodict's pure-Python handler was
    a tenth of the webhook's CPU. None for anything else (nested, attributes, repeated or
    namespaced tags, text between fields), which then goes through wechatpy's own parser."""
    try:
        root = ElementTree.fromstring(xml)
    except (ElementTree.ParseError, ValueError, TypeError):
        return None
    if root.tag != "xml" or root.attrib or (root.text or "").strip():
        return None
    fields: dict[str, Any] = {}
    for child in root:
        tag = child.tag
        if not isinstance(tag, str) or tag in fields or "{" in tag or len(child) or child.attrib \
                or (child.tail or "").strip():
            return None
        fields[tag] = (child.text or "").strip() or None  # xmltodict strips and gives None for ""
    return fields


def message_from(fields: dict[str, Any]) -> BaseMessage:
    """wechatpy.parse_message from its xmltodict step on: the registry of message classes."""
    message_type = fields["MsgType"].lower()
    if message_type == "event" or message_type.startswith("device_"):
        event_type = fields["Event"].lower() if "Event" in fields else None
        if event_type is None and message_type.startswith("device_"):
            event_type = message_type
        elif message_type.startswith("device_"):
            event_type = f"device_{event_type}"
        if event_type == "subscribe" and fields.get("EventKey"):
            event_key = fields["EventKey"]
            if event_key.startswith(("scanbarcode|", "scanimage|")):
                event_type = fields["Event"] = "subscribe_scan_product"
            elif event_key.startswith("qrscene_"):
                event_type = fields["Event"] = "subscribe_scan"
                fields["EventKey"] = event_key[len("qrscene_"):]
        return EVENT_TYPES.get(event_type, UnknownMessage)(fields)
    return MESSAGE_TYPES.get(message_type, UnknownMessage)(fields)


def parse(xml: str) -> BaseMessage:
    refuse_dtd(xml.encode("utf-8"))
    try:
        fields = flat_fields(xml)
        message = parse_message(xml) if fields is None else message_from(fields)
    except (ExpatError, KeyError, AttributeError, ValueError, TypeError) as exc:
        raise Refused(400, f"not a WeChat message ({type(exc).__name__})") from None
    if message is None or not isinstance(message._data, dict):
        raise Refused(400, "empty message")
    source = message._data.get("FromUserName")
    if not isinstance(source, str) or not source.strip() or len(source) > 128:
        raise Refused(400, "missing FromUserName")
    return message


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def to_inbound(message: BaseMessage, now: float) -> Inbound:
    data = message._data
    msg_type = _text(data.get("MsgType")).lower()
    openid = _text(data.get("FromUserName")).strip()
    if msg_type == "event":
        event = _text(data.get("Event")).lower() or "unknown"
        key = _text(data.get("EventKey"))
        return Inbound("wechat", openid, "event", now, event=event, event_key=key)
    kind = msg_type if msg_type in _KINDS and not isinstance(message, UnknownMessage) else "unknown"
    text = ""
    if kind == "text":
        text = _text(data.get("Content"))
    elif kind == "voice":
        text = _text(data.get("Recognition"))  # present only when speech recognition is on
    elif kind == "link":
        text = _text(data.get("Title"))
    elif kind == "location":
        text = _text(data.get("Label"))
    extra = {k: _text(data.get(k)) for k in ("Location_X", "Location_Y", "Url", "Format") if data.get(k)}
    return Inbound("wechat", openid, kind, now, text=text, media_id=_text(data.get("MediaId")), extra=extra)


def dedupe_key(message: BaseMessage) -> str:
    """(openid, MsgId) for messages; (openid, CreateTime, Event, EventKey) for events, which
    have no MsgId. MsgId alone has collided across users."""
    data = message._data
    openid = _text(data.get("FromUserName"))
    msg_id = _text(data.get("MsgId"))
    if msg_id:
        return f"m:{openid}:{msg_id}"
    return ":".join(["e", openid, _text(data.get("CreateTime")), _text(data.get("Event")),
                     _text(data.get("EventKey"))])


def cdata(text: str) -> str:
    # A literal "]]>" would end the CDATA section early; split it across two sections.
    return text.replace("]]>", "]]]]><![CDATA[>")


def text_reply_xml(message: BaseMessage, text: str, now: float | None = None) -> str:
    data = message._data
    return ("<xml>"
            f"<ToUserName><![CDATA[{cdata(_text(data.get('FromUserName')))}]]></ToUserName>"
            f"<FromUserName><![CDATA[{cdata(_text(data.get('ToUserName')))}]]></FromUserName>"
            f"<CreateTime>{int(now or time.time())}</CreateTime>"
            "<MsgType><![CDATA[text]]></MsgType>"
            f"<Content><![CDATA[{cdata(text)}]]></Content>"
            "</xml>")
