"""Property-based fuzzing (hypothesis) of what hostile or careless input reaches first: the WeChat
webhook and its protocol functions (parse, safe-mode decryption), the web chat's JSON endpoint,
the text normaliser and matcher, and the FAQ loader staff edit by hand.

The property everywhere: no exception escapes that is not mapped to a clean 4xx (or, for the
webhook, WeChat's "success") or, for the loader, to a clear validation problem. hypothesis rather
than atheris: it runs inside pytest with no extra build, shrinks a crash to a small example that
is kept below as an explicit @example, and generates structured input (signed XML, encrypted
bodies, YAML documents) that a byte-level fuzzer would take long to find.

Bounded for CI; a longer local run: GIGDESK_FUZZ_EXAMPLES=2000 pytest tests/test_fuzz.py"""
from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import shutil
import string
import struct
import unicodedata
from pathlib import Path
from urllib.parse import urlencode

import pytest
import xmltodict
import yaml
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, example, given, settings, strategies as st
from wechatpy.crypto import PKCS7Encoder, WeChatCipher

from bot.app import create_app
from bot.channels import wechat_protocol as proto
from bot.settings import Settings
from intents import Normaliser
from intents.normalise import clean
from knowledge.loader import Problem, _load_faq_file, load_knowledge
from tests.conftest import AES_KEY, APPID, DATA, TOKEN, sign

pytestmark = pytest.mark.both_backends

KNOWLEDGE = Path(__file__).resolve().parent.parent / "knowledge"
EXAMPLES = int(os.environ.get("GIGDESK_FUZZ_EXAMPLES", "0"))
# database=None: no .hypothesis/ folder left in the checkout; failures print their reproduction.
FUZZ = settings(deadline=None, database=None, print_blob=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                       HealthCheck.function_scoped_fixture])


def fuzz(n: int):
    return settings(FUZZ, max_examples=EXAMPLES or n)


# --- strategies ------------------------------------------------------------------------------
SAMPLES = {p.stem: p.read_text("utf-8") for p in (DATA / "wechat").glob("*.xml")}
FIELDS = ["ToUserName", "FromUserName", "CreateTime", "MsgType", "Content", "MsgId", "Event", "EventKey",
          "MediaId", "Recognition", "Format", "Location_X", "Location_Y", "Label", "Url", "Title"]
MSG_TYPES = ["text", "voice", "image", "video", "shortvideo", "location", "link", "file", "event", "", "TEXT"]
EVENTS = ["subscribe", "unsubscribe", "SCAN", "CLICK", "VIEW", "LOCATION", "bogus"]
# Text a rider could type, control characters and the CDATA terminator included.
rider_text = st.text(alphabet=st.characters(codec="utf-8"), max_size=60) | st.sampled_from(
    ["]]>", "转人工", "结束人工", "登记", "1", "更多", "取消", "<![CDATA[", "&amp;", "押金不给退怎么办"])


def xml_value(value: str) -> str:
    """A field value as WeChat writes it (CDATA) or as a careless sender might (raw, escaped)."""
    return f"<![CDATA[{value}]]>"


@st.composite
def message_xml(draw) -> str:
    """A WeChat-shaped document: known and unknown fields in any order, values of any kind."""
    fields = {"FromUserName": draw(st.sampled_from(["o_fuzz_1", "o_fuzz_2", ""]) | st.text(max_size=140)),
              "MsgType": draw(st.sampled_from(MSG_TYPES) | st.text(max_size=8)),
              "CreateTime": draw(st.sampled_from(["1700000000", "", "-1", "9" * 30]) | st.text(max_size=12))}
    if draw(st.booleans()):
        fields["MsgId"] = draw(st.integers(-1, 10**20).map(str) | st.text(max_size=20))
    if fields["MsgType"] == "event" or draw(st.booleans()):
        fields["Event"] = draw(st.sampled_from(EVENTS) | st.text(max_size=10))
    for name in draw(st.lists(st.sampled_from(FIELDS) | st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True),
                              max_size=6)):
        fields[name] = draw(rider_text)
    parts = []
    for name, value in fields.items():
        raw = draw(st.sampled_from(["cdata", "escaped", "nested", "empty"]))
        if raw == "cdata":
            parts.append(f"<{name}>{xml_value(value)}</{name}>")
        elif raw == "escaped":
            parts.append(f"<{name}>{value.replace('&', '&amp;').replace('<', '&lt;')}</{name}>")
        elif raw == "nested":
            parts.append(f"<{name}><a>{xml_value(value)}</a><a>x</a></{name}>")
        else:
            parts.append(f"<{name}/>")
    root = draw(st.sampled_from(["xml", "xml", "xml", "root"]))
    return f"<{root}>{''.join(parts)}</{root}>"


@st.composite
def mutated_sample(draw) -> str:
    """A real sample from tests/data/wechat with a slice cut out or random text spliced in."""
    xml = SAMPLES[draw(st.sampled_from(sorted(SAMPLES)))]
    xml = (xml.replace("$openid", "o_fuzz_3").replace("$time", "1700000000").replace("$content", "你好")
              .replace("$key", "k").replace("$msgid", str(draw(st.integers(1, 10**16)))))
    at = draw(st.integers(0, len(xml)))
    if draw(st.booleans()):
        return xml[:at] + xml[at + draw(st.integers(1, 40)):]
    return xml[:at] + draw(st.text(max_size=30) | st.sampled_from(["<", "]]>", "<!ENTITY x 'y'>", "&x;", "\x00"])) \
        + xml[at:]


bodies = st.one_of(message_xml(), mutated_sample(), st.binary(max_size=300),
                   st.text(max_size=300).map(lambda t: t))


def seal(xml: str, prefix: bytes = b"0123456789abcdef") -> str:
    """WeChat's safe-mode ciphertext of xml, as wechatpy builds it but with a given 16-byte
    prefix instead of `random` (hypothesis needs strategies to be deterministic)."""
    plain = prefix + struct.pack(">I", len(xml.encode())) + xml.encode() + APPID.encode()
    plain = PKCS7Encoder.encode(plain)
    return base64.b64encode(WeChatCipher(base64.b64decode(AES_KEY + "=")).encrypt(plain)).decode()


def encrypted(xml: str, timestamp: str, nonce: str) -> tuple[str, str]:
    """The safe-mode Encrypt value WeChat would send, and its msg_signature."""
    encrypt = seal(xml)
    return encrypt, sign(TOKEN, timestamp, nonce, encrypt)


@st.composite
def mutated_ciphertext(draw) -> str:
    """A genuine ciphertext with bytes flipped, cut or appended (re-encoded as base64)."""
    encrypt, _ = encrypted(draw(message_xml()), "1700000000", "1")
    raw = bytearray(base64.b64decode(encrypt))
    how = draw(st.sampled_from(["flip", "cut", "append", "garble"]))
    if how == "flip":
        for at in draw(st.lists(st.integers(0, len(raw) - 1), min_size=1, max_size=4)):
            raw[at] ^= draw(st.integers(1, 255))
    elif how == "cut":
        raw = raw[:draw(st.integers(0, len(raw) - 1))]
    elif how == "append":
        raw += draw(st.binary(min_size=1, max_size=32))
    else:
        return draw(st.text(alphabet=string.ascii_letters + string.digits + "+/=", max_size=120))
    return base64.b64encode(bytes(raw)).decode()


# --- (a) protocol functions -------------------------------------------------------------------
@fuzz(300)
@given(xml=st.one_of(message_xml(), mutated_sample(), st.text(max_size=200)))
@example(xml="<xml><FromUserName>o</FromUserName><MsgType><a>1</a><a>2</a></MsgType></xml>")
@example(xml="<xml><FromUserName><a>1</a></FromUserName><MsgType>text</MsgType></xml>")
def test_parse_accepts_or_refuses_and_the_reply_round_trips(xml):
    try:
        message = proto.parse(xml)
    except proto.Refused as refused:
        assert 400 <= refused.status < 500
        return
    inbound = proto.to_inbound(message, 1700000000.0)
    assert isinstance(inbound.text, str) and inbound.openid
    assert proto.dedupe_key(message).startswith(("m:", "e:"))
    # Whatever the rider wrote, a reply that quotes it is well-formed XML with the text intact.
    text = "".join(ch for ch in inbound.text if ch in "\t\n\r" or unicodedata.category(ch) != "Cc")
    reply = xmltodict.parse(proto.text_reply_xml(message, text))["xml"]
    assert (reply["Content"] or "") == text.replace("\r\n", "\n").replace("\r", "\n")


@fuzz(300)
@given(encrypt=st.one_of(mutated_ciphertext(), st.text(max_size=80)), good_signature=st.booleans())
@example(encrypt="", good_signature=True)
@example(encrypt="AAAA", good_signature=True)
def test_safe_mode_decrypt_refuses_junk_cleanly(encrypt, good_signature):
    safe = proto.SafeMode(TOKEN, AES_KEY, APPID)
    body = f"<xml><ToUserName>gh</ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
    signature = sign(TOKEN, "1700000000", "1", encrypt) if good_signature else "0" * 40
    try:
        xml = safe.decrypt(body, signature, "1700000000", "1")
    except proto.Refused as refused:
        assert refused.status in (400, 403)
        return
    assert isinstance(xml, str)


@fuzz(100)
@given(timestamp=st.none() | st.text(max_size=20) | st.integers(-10**13, 10**13).map(str))
# Found by this test: "²".isdigit() is True but int("²") raises; the webhook logged a crash.
@example(timestamp="²")
def test_timestamp_check_refuses_cleanly(timestamp):
    try:
        proto.check_timestamp(timestamp, 300, now=1700000000.0)
    except proto.Refused as refused:
        assert refused.status in (400, 403)


# --- (a) the /wechat webhook and /chat JSON endpoint through the real app -----------------------
class Errors(logging.Handler):
    """Collects ERROR records: the app's last-resort middleware answers /wechat with "success"
    even when a handler crashed, so the status alone would hide a crash."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class LiveApp:
    """The real app on loopback, driven from synchronous hypothesis tests through its own loop."""

    def __init__(self, app):
        self.loop = asyncio.new_event_loop()
        self.client: TestClient = self.loop.run_until_complete(self._start(app))
        self.errors = Errors()
        for name in ("gigdesk", "aiohttp.server", "aiohttp.web"):
            logging.getLogger(name).addHandler(self.errors)

    @staticmethod
    async def _start(app) -> TestClient:
        client = TestClient(TestServer(app))
        await client.start_server()
        return client

    def request(self, method: str, path: str, **kwargs) -> tuple[int, bytes]:
        async def go():
            async with self.client.request(method, path, **kwargs) as resp:
                return resp.status, await resp.read()
        return self.loop.run_until_complete(go())

    def check_no_crash(self) -> None:
        crashes, self.errors.records = self.errors.records, []
        assert not crashes, [r.getMessage() + "\n" + (logging.Formatter().formatException(r.exc_info)
                                                       if r.exc_info else "") for r in crashes]

    def close(self) -> None:
        self.loop.run_until_complete(self.client.close())
        for name in ("gigdesk", "aiohttp.server", "aiohttp.web"):
            logging.getLogger(name).removeHandler(self.errors)
        self.loop.close()


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    data = tmp_path_factory.mktemp("fuzz-data")
    # Nothing listens on port 9: an answer that misses the deadline fails to send, quietly retried.
    app = create_app(Settings(wechat_token=TOKEN, wechat_appid=APPID, wechat_secret="fuzz-secret",
                              wechat_aes_key=AES_KEY, wechat_api_base="http://127.0.0.1:9",
                              data_dir=str(data), knowledge_poll_seconds=3600))
    running = LiveApp(app)
    yield running
    running.close()


QUERY_KEYS = ["signature", "timestamp", "nonce", "openid", "encrypt_type", "msg_signature", "echostr"]


@st.composite
def webhook_request(draw) -> tuple[dict, bytes, dict]:
    """(query, body, headers): mostly correctly signed, so the body reaches the parser."""
    timestamp = draw(st.sampled_from(["now", "now", "now", "1", "abc", "", "²", "１７"]) | st.text(max_size=12))
    nonce = draw(st.text(alphabet=string.digits, min_size=1, max_size=9))
    if timestamp == "now":
        import time
        timestamp = str(int(time.time()))
    query = {"signature": sign(TOKEN, timestamp, nonce), "timestamp": timestamp, "nonce": nonce,
             "openid": "o_fuzz"}
    body = draw(bodies)
    mode = draw(st.sampled_from(["plain", "plain", "aes", "aes-mutated", "random-query"]))
    if mode == "aes" and isinstance(body, str):
        encrypt, query["msg_signature"] = encrypted(body, timestamp, nonce)
        query["encrypt_type"] = "aes"
        body = f"<xml><ToUserName>gh</ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
    elif mode == "aes-mutated":
        encrypt = draw(mutated_ciphertext())
        query.update(encrypt_type="aes", msg_signature=sign(TOKEN, timestamp, nonce, encrypt))
        body = f"<xml><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
    elif mode == "random-query":
        query = draw(st.dictionaries(st.sampled_from(QUERY_KEYS) | st.text(max_size=5), st.text(max_size=30),
                                     max_size=6))
    headers = draw(st.dictionaries(
        st.sampled_from(["Content-Type", "X-Forwarded-For", "Origin", "Accept-Encoding", "X-Anything"]),
        st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40), max_size=3))
    return query, body.encode("utf-8") if isinstance(body, str) else body, headers


def check_webhook_answer(status: int, body: bytes, query: dict) -> None:
    assert status < 500, (status, body[:300])
    if status != 200:
        return
    # WeChat shows the rider "该公众号暂时无法提供服务" for anything but success, empty or XML.
    text = body.decode("utf-8")
    if text not in ("", "success"):
        assert xmltodict.parse(text)["xml"]


@fuzz(250)
@given(request=webhook_request())
@example(request=({}, b"<xml/>", {}))
@example(request=({"timestamp": "1" * 13}, b"x", {}))
@example(request=({"timestamp": "²", "signature": sign(TOKEN, "²", "1"), "nonce": "1"}, b"<xml/>", {}))
def test_webhook_never_crashes(live, request):
    query, body, headers = request
    status, answer = live.request("POST", "/wechat?" + urlencode(query), data=body, headers=headers)
    check_webhook_answer(status, answer, query)
    live.check_no_crash()


@fuzz(60)
@given(query=st.dictionaries(st.sampled_from(QUERY_KEYS) | st.text(max_size=5), st.text(max_size=30), max_size=6))
def test_webhook_verification_never_crashes(live, query):
    status, _ = live.request("GET", "/wechat?" + urlencode(query))
    assert status in (200, 400, 403)
    live.check_no_crash()


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | rider_text,
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                                     max_size=3), max_leaves=8)


@st.composite
def chat_request(draw) -> tuple[bytes, dict]:
    data = draw(st.fixed_dictionaries({}, optional={"text": json_values | rider_text, "client_id": json_values}) |
                json_values)
    raw = json.dumps(data, ensure_ascii=draw(st.booleans())).encode()
    if draw(st.integers(0, 5)) == 0:
        raw = draw(st.binary(max_size=80))
    headers = {"Content-Type": draw(st.sampled_from(["application/json", "application/json; charset=utf-8",
                                                      "text/plain", ""]))}
    origin = draw(st.none() | st.sampled_from(["http://[abc", "http://evil.example", "null", "https://"]) |
                  st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=30))
    if origin is not None:
        headers["Origin"] = origin
    return raw, headers


@fuzz(200)
@given(request=chat_request())
# Found by this test: an Origin that is not a valid URL made same_origin() raise (500).
@example(request=(b'{"text": "hi"}', {"Content-Type": "application/json", "Origin": "http://[abc"}))
def test_web_chat_endpoint_answers_4xx_never_500(live, request):
    raw, headers = request
    status, body = live.request("POST", "/chat/api/messages", data=raw, headers=headers)
    assert status in (200, 400, 403, 413, 415), (status, body[:300])
    answer = json.loads(body)
    assert ("reply" in answer) if status == 200 else isinstance(answer["error"], str)
    live.check_no_crash()


@fuzz(50)
@given(after=st.text(max_size=25))
def test_web_chat_history_query_never_crashes(live, after):
    status, body = live.request("GET", "/chat/api/messages", params={"after": after})
    assert status in (200, 400), (status, body[:300])
    live.check_no_crash()


# --- (b) the text normaliser and the matcher ----------------------------------------------------
any_text = st.text(alphabet=st.characters(codec="utf-8"), max_size=80) | st.text(max_size=80)


@fuzz(400)
@given(text=any_text)
@example(text="İ")  # lower() adds a combining dot
@example(text="\ufdfa")  # NFKC expands one character into eighteen
def test_clean_keeps_only_letters_and_digits_and_is_stable(text):
    once = clean(text)
    assert isinstance(once, str)
    assert all(unicodedata.category(ch)[0] in "LN" for ch in once)
    # The FAQ's phrasings and the rider's text go through clean() once each; an index built
    # from cleaned text must meet cleaned text again, so cleaning twice changes nothing.
    assert clean(once) == once


@pytest.fixture(scope="module")
def brain():
    from bot.brain import build_brain
    kb, problems = load_knowledge(KNOWLEDGE)
    assert kb is not None, problems
    return build_brain(kb)


@fuzz(300)
@given(text=any_text)
def test_normaliser_and_matcher_take_any_text(brain, text):
    normalised = brain.normalise(text)
    assert isinstance(normalised, str)
    candidates = brain.matcher.match(text)
    scores = [c.score for c in candidates]
    assert scores == sorted(scores, reverse=True)
    assert all(0 <= s <= 100 for s in scores)
    assert all(c.entry_id in brain.matcher.entry_ids for c in candidates)


# --- (c) the FAQ loader ------------------------------------------------------------------------
yaml_scalars = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
                | st.dates().map(lambda d: d))
yaml_values = st.recursive(yaml_scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
    st.sampled_from(["id", "title", "examples", "keywords", "answer", "sources", "reviewed", "date", "tags",
                     "needs_human", "offers_case", "entries", "__line__"]) | st.text(max_size=8), inner,
    max_size=6), max_leaves=20)


@st.composite
def faq_entry(draw) -> dict:
    """A plausible entry with some fields missing, renamed or of the wrong kind."""
    entry = {"id": "fuzz-entry", "title": "测试", "examples": ["测试问题"], "answer": "回答 {{ union_hotline }}",
             "sources": [{"title": "某法", "date": "2021-07"}], "reviewed": "2024-05-01"}
    for key in draw(st.sets(st.sampled_from(sorted(entry)), max_size=3)):
        if draw(st.booleans()):
            del entry[key]
        else:
            entry[key] = draw(yaml_values | st.sampled_from(["{{ nope", "{% for %}", "{{ 1/0 }}", "{{ x.y.z }}"]))
    return entry


@st.composite
def faq_file(draw) -> str:
    kind = draw(st.sampled_from(["entries", "entries", "structure", "text", "mutated"]))
    if kind == "entries":
        return yaml.safe_dump({"entries": draw(st.lists(faq_entry(), max_size=3))}, allow_unicode=True)
    if kind == "structure":
        return yaml.safe_dump(draw(yaml_values), allow_unicode=True)
    if kind == "text":
        return draw(st.text(max_size=200))
    real = (KNOWLEDGE / "faq" / "fines.yaml").read_text("utf-8")
    at = draw(st.integers(0, len(real)))
    return real[:at] + draw(st.text(max_size=20) | st.sampled_from([":", "- ", "\t", "  ", "&a", "*a", "!!"])) \
        + real[at + draw(st.integers(0, 20)):]


@pytest.fixture(scope="module")
def knowledge_copy(tmp_path_factory) -> Path:
    """The knowledge folder with only the FAQ files the menu needs: PyYAML is pure Python and
    reading all sixteen files takes 0.15 s an example."""
    target = tmp_path_factory.mktemp("fuzz-kb") / "knowledge"
    shutil.copytree(KNOWLEDGE, target, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    kb, problems = load_knowledge(KNOWLEDGE)
    assert kb is not None, problems
    needed = {e.file for e in kb.entries if e.id in set(kb.menu.values())}
    for path in (target / "faq").glob("*.yaml"):
        if f"faq/{path.name}" not in needed:
            path.unlink()
    return target


FOUND_IN_FAQ_FILES = [
    # Found by these tests: a date that does not exist escaped the loader as ValueError.
    "entries:\n- id: a\n  reviewed: 2024-02-30\n",
    "entries:\n- sources:\n  - {title: t, date: 0000-01-01}\n",
    # Found by these tests: nesting deep enough to exhaust the YAML composer's recursion.
    "[" * 3000,
    # Found by these tests: an answer template that fails when rendered escaped as ZeroDivisionError.
    yaml.safe_dump({"entries": [{"id": "a", "title": "t", "examples": ["q"], "answer": "{{ 1/0 }}",
                                 "sources": [{"title": "s", "date": "2021"}], "reviewed": "2024-05-01"}]}),
]


def with_found(test):
    for text in FOUND_IN_FAQ_FILES:
        test = example(text=text)(test)
    return test


@fuzz(120)
@given(text=faq_file())
@with_found
def test_faq_file_reports_problems_never_raises(tmp_path_factory, text):
    """One FAQ file alone, as the loader reads each (fast: PyYAML is pure Python)."""
    path = tmp_path_factory.getbasetemp() / "zz-fuzz.yaml"
    path.write_text(text, encoding="utf-8")
    problems: list[Problem] = []
    entries = _load_faq_file(path, problems)
    assert all(isinstance(p, Problem) and p.message and str(p) for p in problems)
    assert all(e.id and e.answer for e in entries)


@fuzz(20)
@given(text=faq_file())
@with_found
def test_faq_loader_reports_problems_never_raises(knowledge_copy, text):
    """The whole knowledge folder with one fuzzed FAQ file: problems or a base, nothing else."""
    (knowledge_copy / "faq" / "zz-fuzz.yaml").write_text(text, encoding="utf-8")
    kb, problems = load_knowledge(knowledge_copy)
    assert all(isinstance(p, Problem) and p.message and str(p) for p in problems)
    if kb is None:
        assert any(p.severity == "error" for p in problems)
    else:
        assert not any(p.severity == "error" for p in problems)


def test_sealed_test_bodies_are_what_safe_mode_decrypts():
    """The fuzzers' ciphertexts are genuine: otherwise every encrypted example would stop at 403."""
    xml = "<xml><FromUserName>o</FromUserName><MsgType>text</MsgType><Content>你好</Content></xml>"
    encrypt, signature = encrypted(xml, "1700000000", "1")
    body = f"<xml><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
    assert proto.SafeMode(TOKEN, AES_KEY, APPID).decrypt(body, signature, "1700000000", "1") == xml


@pytest.mark.parametrize("key", ["~", "1", "null", "3.5"])
def test_an_entry_with_a_key_that_is_not_text_is_reported_not_raised(tmp_path, key):
    """Found by the fuzzer above: an entry with a `~:` (None) key made the loader raise a
    TypeError while naming the unknown fields."""
    path = tmp_path / "bad.yaml"
    path.write_text(f"entries:\n  - id: a-b\n    title: t\n    answer: x\n    examples: [一, 二]\n    {key}: v\n",
                    encoding="utf-8")
    problems: list[Problem] = []
    _load_faq_file(path, problems)
    assert any("不认识的项" in p.message for p in problems), problems
