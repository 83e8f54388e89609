"""Masking personal numbers in text and in log output."""
from __future__ import annotations

import io
import logging

import pytest

from bot.privacy import MaskingFilter, install_masking, mask, rider_hash


@pytest.mark.parametrize("text, masked", [
    ("13812345678", "138****5678"),
    ("138 1234 5678", "138****5678"),
    ("138-1234-5678", "138****5678"),
    ("+86 13812345678", "+86 138****5678"),
    ("+86-138-1234-5678", "+86-138****5678"),
    ("+8619912345678", "+86199****5678"),
    ("008613812345678", "0086138****5678"),
    ("１３８１２３４５６７８", "138****5678"),  # typed with a Chinese input method
    ("110105194912310021", "110*************21"),
    ("11010519491231002X", "110*************2X"),
    ("11010519491231002x", "110*************2x"),
    ("110105491231002", "110**********02"),  # 15-digit ID from before 1999
    ("6222021234567890", "************7890"),
    ("6222021234567890123", "***************0123"),
    ("6222 0212 3456 7890 123", "***************0123"),
    ("6222-0212-3456-7890", "************7890"),
    ("622202123456789012", "**************9012"),  # 18 digits but no birth date: a card
    ("12345678901234567X", "123*************7X"),  # no birth date, but only an ID ends in X
], ids=lambda value: value if isinstance(value, str) and "*" not in value else None)
def test_mask_hides_the_number(text, masked):
    assert mask(text) == masked
    assert mask(f"电话是{text}，谢谢") == f"电话是{masked}，谢谢"


@pytest.mark.parametrize("text", [
    "工资少发了300元",
    "2026年的事",
    "2026-11-21 被扣了 500",
    "订单号 1234567890",  # shorter than 11 digits
    "订单 9876543",
    "案件编号 GH-2611-0042",
    "12812345678",  # 11 digits but not a mobile prefix
    "138123456789",  # 12 digits: not a mobile number
    "1381234567",  # 10 digits
    "1763712000123",  # a millisecond timestamp
    "订单号 2013812345678",  # 13 digits, the last 11 of which look like a mobile number
    "订单号 13812345678123",  # the same the other way round
    "20261121",
    "下午3点 ３００元",
])
def test_mask_leaves_other_numbers_alone(text):
    assert mask(text) == text


def test_mask_handles_several_numbers_in_one_text_and_is_idempotent():
    text = ("我叫张三，手机13812345678，身份证110105194912310021，"
            "卡号6222021234567890123，欠我3000元。")
    masked = mask(text)
    assert masked == ("我叫张三，手机138****5678，身份证110*************21，卡号***************0123，"
                      "欠我3000元。")
    assert mask(masked) == masked


def test_rider_hash_is_reexported_from_storage():
    from storage.retention import rider_hash as stored
    assert rider_hash is stored


@pytest.fixture
def root_output():
    """The root logger with only a real StreamHandler writing to a buffer; restored afterwards."""
    root = logging.getLogger()
    saved = root.handlers[:]
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root.handlers = [handler]
    try:
        yield buffer, handler
    finally:
        root.handlers = saved


def test_log_records_from_any_logger_come_out_masked(root_output):
    buffer, handler = root_output
    masking = install_masking()
    assert isinstance(masking, MaskingFilter) and handler.filters == [masking]
    assert install_masking() and handler.filters == [masking]  # not added twice

    log = logging.getLogger("gigdesk.test.child")  # a child: its own filters would not be the root's
    log.setLevel(logging.INFO)
    log.info("rider %s sent %s", "wechat:o1", {"phone": "138 1234 5678", "id": "110105194912310021"})
    log.warning("card 6222021234567890123 for case GH-2611-0042, 300 元")
    try:
        raise ValueError("bad phone 13812345678")
    except ValueError:
        log.exception("failed for %s", "13912345678")

    out = buffer.getvalue()
    assert "gigdesk.test.child INFO rider wechat:o1 sent {'phone': '138****5678', 'id': '110*************21'}" in out
    assert "card ***************0123 for case GH-2611-0042, 300 元" in out
    assert "failed for 139****5678" in out and "ValueError: bad phone 138****5678" in out
    for raw in ("1234 5678", "110105194912310021", "6222021234567890123", "13812345678", "13912345678"):
        assert raw not in out


def test_without_masking_the_same_handler_shows_the_number(root_output):
    # the other half of the test above: the numbers are there to be masked
    buffer, _ = root_output
    log = logging.getLogger("gigdesk.test.child")
    log.setLevel(logging.INFO)
    log.info("phone %s", "13812345678")
    assert "phone 13812345678" in buffer.getvalue()


def test_the_filter_renders_the_message_once_and_drops_the_args():
    record = logging.LogRecord("gigdesk", logging.INFO, __file__, 1, "call %s about %d", ("13812345678", 5), None)
    assert MaskingFilter().filter(record) is True
    assert (record.msg, record.args) == ("call 138****5678 about 5", None)
    assert record.getMessage() == "call 138****5678 about 5"


def test_the_filter_masks_a_record_whose_args_do_not_fit():
    # logging would otherwise print msg and args raw in its "Logging error" report
    record = logging.LogRecord("gigdesk", logging.INFO, __file__, 1, "call %s and %s", ("13812345678",), None)
    MaskingFilter().filter(record)
    assert "13812345678" not in record.getMessage() and "138****5678" in record.getMessage()
