"""Keeping riders' personal numbers out of log files.

mask() hides mainland mobile numbers, resident ID numbers and bank card numbers in free text:

    13812345678, 138 1234 5678, 138-1234-5678    -> 138****5678
    +86 13812345678, +8613812345678, 0086...     -> +86 138****5678 (the prefix as written)
    110105194912310021, 11010519491231002X       -> 110*************21 (first 3, last 2, 18 long)
    110105491231002 (15-digit old ID)            -> 110**********02 (first 3, last 2, 15 long)
    6222021234567890123, 6222 0212 3456 7890 123 -> ***************0123 (last 4; one * a digit)

A number counts only as a whole: digits right before or after it make it a different, longer
number. So amounts (300), years (2026), dates (2026-11-21), order numbers shorter than 11
digits and case numbers (GH-2611-0042) are left alone. An 18-digit number whose digits 7-14 are
not a birth date is masked as a bank card. Longer numbers that are none of these (order numbers
of 12-14 or 20+ digits) are left alone; 16-19 digit order numbers are masked like cards, which
costs a log reader little. Full-width digits (１３８…) count as digits.

MaskingFilter applies mask() to log records; install_masking() puts it on the root logger's
handlers, which see every record that propagates, whichever logger it was logged on."""
from __future__ import annotations

import logging
import re

from storage.retention import rider_hash

__all__ = ["mask", "MaskingFilter", "install_masking", "rider_hash"]

_NUMBER = re.compile(r"""
    (?<!\d)                                           # not the tail of a longer number
    (?:
        (?P<grouped_card>\d{4}(?:[ -]\d{4}){3}(?:[ -]\d{1,3})?)  # 6222 0212 3456 7890 (123)
      | (?P<id18>\d{17}[\dXx])
      | (?P<card>\d{16,19})
      | (?P<phone_prefix>(?:\+|00)?86[ -]?)?(?P<phone>1[3-9]\d(?:[ -]?\d{4}){2})
      | (?P<id15>\d{15})
    )
    (?!\d)                                             # not the head of a longer number
""", re.VERBOSE | re.ASCII)
# Full-width digits, as Chinese input methods type them, are matched as their ASCII twins.
_FULLWIDTH = str.maketrans("０１２３４５６７８９Ｘｘ＋－　", "0123456789Xx+- ")


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _is_birth_date(year: str, month: str, day: str) -> bool:
    return year[:2] in ("18", "19", "20") and 1 <= int(month) <= 12 and 1 <= int(day) <= 31


def _card(digits: str) -> str:
    return "*" * (len(digits) - 4) + digits[-4:]


def _resident_id(digits: str) -> str:
    return digits[:3] + "*" * (len(digits) - 5) + digits[-2:]


def _replace(match: re.Match) -> str:
    if match["phone"]:
        digits = _digits(match["phone"])
        return (match["phone_prefix"] or "") + digits[:3] + "****" + digits[-4:]
    if match["id18"]:
        number = match["id18"]
        if number[-1] in "Xx" or _is_birth_date(number[6:10], number[10:12], number[12:14]):
            return _resident_id(number)
        return _card(number)
    if match["id15"]:
        return _resident_id(match["id15"])
    return _card(_digits(match["grouped_card"] or match["card"]))


def mask(text: str) -> str:
    """text with mobile, resident ID and bank card numbers masked (see the module's docstring)."""
    # The translation maps one character to one, so positions in `plain` are positions in `text`.
    plain = text.translate(_FULLWIDTH)
    if plain == text:
        return _NUMBER.sub(_replace, text)
    parts, end = [], 0
    for match in _NUMBER.finditer(plain):
        parts += [text[end:match.start()], _replace(match)]
        end = match.end()
    return "".join(parts) + text[end:]


class MaskingFilter(logging.Filter):
    """Masks a record's message, arguments and traceback text; never drops a record.
    Subclasses change what `clean` does to each text (bot.logs pseudonymises rider ids)."""

    def clean(self, text: str) -> str:
        return mask(text)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # msg and args do not fit; logging would print both raw in its error
            message = f"{record.msg} {record.args!r}"
        record.msg, record.args = self.clean(message), None
        if record.exc_info and not record.exc_text:
            # Formatters reuse exc_text when set, so the traceback is rendered once, cleaned.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.clean(record.exc_text)
        if record.stack_info:
            record.stack_info = self.clean(record.stack_info)
        return True


def install_masking(logger: logging.Logger | None = None) -> MaskingFilter:
    """Add one MaskingFilter to every handler of `logger` (the root logger by default) that has
    none yet, and return it. A filter on a logger would miss records logged on its children;
    one on a handler sees them all. Handlers added later need install_masking() again."""
    logger = logging.getLogger() if logger is None else logger
    masking = MaskingFilter()
    for handler in logger.handlers:
        if not any(type(f) is MaskingFilter for f in handler.filters):  # not a subclass: those clean otherwise
            handler.addFilter(masking)
    return masking
