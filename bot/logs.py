"""The server's log: one JSON object a line (or plain text), riders pseudonymous, numbers masked.

    {"time": "2026-11-21T08:00:00.123+00:00", "level": "WARNING", "logger": "gigdesk.outbox",
     "message": "outbox 7 to rider:3f1c0a9b2e4d failed for good: 对方未关注公众号，无法发送"}

Fields given with `extra={...}` become fields of the object. A rider id ("wechat:<openid>",
"web:<visitor>") or a bare WeChat openid ("o" and 27 letters, digits, "-" or "_") anywhere in a
message, a traceback or an extra field is replaced by "rider:" and storage.retention.rider_hash
of the rider id, the same pseudonym `gigdesk rider forget` writes in the audit log: anyone
holding the openid can find the rider's lines, nobody reading the log learns the openid.
Phone, ID and card numbers are masked by bot.privacy's MaskingFilter.

A formatter of our own rather than python-json-logger: it is twenty lines, the fields and
their names are exactly ours, and it adds no dependency to keep up to date."""
from __future__ import annotations

import datetime
import json
import logging
import os
import re
import sys
from typing import IO, Any

from bot.privacy import MaskingFilter, install_masking, mask, rider_hash

FORMATS = ("json", "text")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# The attributes every LogRecord has; anything else on a record came from `extra`.
STANDARD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
_ID_CHAR = r"[A-Za-z0-9_-]"
RIDER_ID = re.compile(rf"(?<!{_ID_CHAR})(?:(?P<channel>wechat|web):(?P<id>{_ID_CHAR}+)|(?P<openid>o{_ID_CHAR}{{27}}))"
                      rf"(?!{_ID_CHAR})")


def _pseudonym(match: re.Match) -> str:
    rider_id = f"{match['channel']}:{match['id']}" if match["channel"] else f"wechat:{match['openid']}"
    return f"rider:{rider_hash(rider_id)}"


def pseudonymise(text: str) -> str:
    """text with every rider id and openid replaced by its rider_hash pseudonym."""
    return RIDER_ID.sub(_pseudonym, text)


def _clean(value: Any) -> Any:
    return mask(pseudonymise(value)) if isinstance(value, str) else value


class RiderIdFilter(MaskingFilter):
    """Replaces rider ids in a record's message, traceback and extra fields; masks numbers in
    extra fields (MaskingFilter does the message). It must run before MaskingFilter: a run of
    digits inside an openid could otherwise be masked first and the openid no longer found."""

    def clean(self, text: str) -> str:
        return pseudonymise(text)

    def filter(self, record: logging.LogRecord) -> bool:
        super().filter(record)
        for name in extra_fields(record):
            setattr(record, name, _clean(getattr(record, name)))
        return True


def extra_fields(record: logging.LogRecord) -> list[str]:
    return [name for name in vars(record) if name not in STANDARD_FIELDS and not name.startswith("_")]


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {name: getattr(record, name) for name in extra_fields(record)}
        entry.update({
            "time": datetime.datetime.fromtimestamp(record.created, datetime.timezone.utc)
            .isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        })
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class MalformedRequestFilter(logging.Filter):
    """On aiohttp's server logger: a request that is not valid HTTP (a NUL byte or a bare CR
    in a header, a line too long) is the client's fault and gets a 400 from aiohttp; it was
    logged as an ERROR with a traceback, so any client could fill the log with them. It
    becomes one WARNING line, without the request's bytes."""

    def filter(self, record: logging.LogRecord) -> bool:
        from aiohttp.http_exceptions import HttpProcessingError
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError) and 400 <= (exc.code or 400) < 500:
            # What went wrong, without what the client sent (it follows a colon, if at all).
            reason = (exc.message or "").strip().split(":")[0].splitlines()[0][:80] if exc.message else ""
            peer = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.msg, record.args = "refused a malformed HTTP request from %s: %s (%s)", \
                (peer, type(exc).__name__, reason)
            record.exc_info, record.exc_text = None, None
        return True


def quiet_malformed_requests() -> None:
    """Installs MalformedRequestFilter on aiohttp's server logger, once."""
    server_log = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, MalformedRequestFilter) for f in server_log.filters):
        server_log.addFilter(MalformedRequestFilter())


class WorkerField(logging.Filter):
    """With `gigdesk serve --workers N`, each line says which worker wrote it."""

    def __init__(self, worker: str):
        super().__init__()
        self.worker = worker

    def filter(self, record: logging.LogRecord) -> bool:
        record.worker = self.worker
        return True


def configure_logging(log_format: str = "json", stream: IO[str] | None = None,
                      level: int = logging.INFO) -> logging.Handler:
    """One handler on the root logger, writing to standard error (systemd's journal keeps it),
    with rider ids hashed and numbers masked. Returns the handler, so it can be removed."""
    if log_format not in FORMATS:
        raise ValueError(f"log_format must be one of {', '.join(FORMATS)}, got {log_format!r}")
    handler = logging.StreamHandler(stream or sys.stderr)
    worker = os.environ.get("GIGDESK_WORKER", "")  # set by bot.workers' supervisor
    text_format = TEXT_FORMAT.replace("%(name)s", f"worker {worker} %(name)s") if worker else TEXT_FORMAT
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(text_format))
    if worker:
        handler.addFilter(WorkerField(worker))
    handler.addFilter(RiderIdFilter())  # before the MaskingFilter install_masking adds
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level)
    install_masking(root)
    quiet_malformed_requests()
    return handler
