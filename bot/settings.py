"""Settings: declared once with name, default and help; read from defaults, an optional
gigdesk.toml, then the environment (the environment wins, so secrets need never be in a file)."""
from __future__ import annotations

import base64
import binascii
import dataclasses
import os
import tomllib
from pathlib import Path
from typing import Any

KNOWLEDGE_DIR = Path(__file__).resolve().parent.parent / "knowledge"
DEMO_TOKEN = "gigdesk-demo"


class SettingsError(ValueError):
    """A setting is missing or invalid; the message is one line a person can act on."""


def _setting(default: Any, help: str, env: str | None = None, secret: bool = False) -> Any:
    # Secrets stay out of repr() so they never land in a log line or a traceback.
    return dataclasses.field(default=default, repr=not secret,
                             metadata={"help": help, "env": env, "secret": secret})


@dataclasses.dataclass(frozen=True)
class Settings:
    wechat_token: str = _setting("", "Token set in the Official Account's server settings (signature check).",
                                 "WECHAT_TOKEN", secret=True)
    wechat_appid: str = _setting("", "AppID of the Official Account.", "WECHAT_APPID")
    wechat_secret: str = _setting("", "AppSecret, used to fetch the access_token for the customer-service API.",
                                  "WECHAT_SECRET", secret=True)
    wechat_aes_key: str = _setting("", "EncodingAESKey (43 characters) for compatible/safe mode; empty for "
                                   "plaintext mode.", "WECHAT_AES_KEY", secret=True)
    wechat_api_base: str = _setting("https://api.weixin.qq.com", "Base URL of WeChat's API (tests point it at "
                                    "a fake).", "WECHAT_API_BASE")
    data_dir: str = _setting("data", "Folder holding the SQLite database (and evidence files).")
    database_url: str = _setting("", "PostgreSQL to keep the data in instead of SQLite, e.g. "
                                 "postgresql://gigdesk@/gigdesk?host=/run/postgresql (needs gigdesk[postgresql]); "
                                 "empty: SQLite in data_dir.", "GIGDESK_DATABASE_URL", secret=True)
    knowledge_dir: str = _setting(str(KNOWLEDGE_DIR), "Folder holding the FAQ files (lexicon.yaml, "
                                  "messages.yaml, faq/).")
    host: str = _setting("127.0.0.1", "Address to listen on.")
    port: int = _setting(8080, "Port to listen on.")
    workers: int = _setting(1, "Processes serving the address on this host (`gigdesk serve --workers N`); about "
                            "one per core. They share the database; see \"Several workers\" in the README.")
    reply_deadline: float = _setting(4.0, "Seconds to wait for an answer before replying 'success' and sending "
                                     "it through the customer-service API (WeChat gives up after 5 s).")
    timestamp_tolerance: int = _setting(300, "Seconds a signed request's timestamp may differ from our clock.")
    max_body_bytes: int = _setting(65536, "Largest webhook body accepted; WeChat's messages are a few KB.")
    union_hotline: str = _setting("12351（工会服务热线，拨“区号+12351”接当地工会）",
                                  "How answers name the union's hotline ({{ union_hotline }} in the FAQ).")
    union_name: str = _setting("工会", "How the bot names the union ({{ union_name }} in the FAQ).")
    knowledge_poll_seconds: float = _setting(2.0, "How often the server checks the FAQ files for edits.")
    office_hours: str = _setting("mon-fri 09:00-18:00", "When caseworkers are on duty, e.g. \"mon-fri 09:00-18:00; "
                                 "sat 09:00-12:00\" (\"always\" for round the clock); outside them riders are told "
                                 "when a person will reply.")
    timezone: str = _setting("Asia/Shanghai", "Time zone of the office hours and of dates shown to people.")
    escalate_after_minutes: float = _setting(15.0, "Minutes a conversation may wait unclaimed before it is shown "
                                             "red and announced to the WeCom group.")
    escalate_urgent_after_minutes: float = _setting(3.0, "The same for urgent conversations (danger, injury).")
    wecom_webhook_url: str = _setting("", "WeCom group-robot webhook URL that hears about escalated conversations "
                                      "(empty: console only). It contains a key: keep it out of the repo.",
                                      "GIGDESK_WECOM_WEBHOOK_URL", secret=True)
    public_url: str = _setting("", "The console's address as caseworkers reach it, e.g. https://help.example.org; "
                               "used in links, and an https address makes session cookies Secure.")
    session_hours: float = _setting(12.0, "How long a console log-in lasts (a long shift).")
    trusted_proxy: str = _setting("", "Address of the reverse proxy in front (e.g. 127.0.0.1 for nginx on the same "
                                  "server): requests from it are taken to come from its X-Real-IP, so the log-in "
                                  "limit counts each person's address, not the proxy's. Empty: trust no header.")
    wechat_template_id: str = _setting("", "Template id for the notice sent when a caseworker's reply is outside "
                                       "WeChat's 48-hour window (verified service accounts only; empty: off).")
    wechat_template_fields: str = _setting("first=工会工作人员回复了你;remark=请在公众号里回复任意文字查看",
                                           "The template's fields as name=value pairs separated by \";\" (at "
                                           "most 20 characters each).")
    retention_days: int = _setting(365, "Days `gigdesk purge` keeps closed conversations, resolved or closed "
                                   "cases, WeChat deliveries and unanswered questions after they end.")
    log_format: str = _setting("json", "How the server logs: \"json\" (one JSON object a line, for journald "
                               "and log collectors) or \"text\" (easier to read at a terminal).")
    shutdown_timeout: float = _setting(10.0, "Seconds a stopping server (SIGTERM) gives requests in progress "
                                       "to finish; systemd's TimeoutStopSec must be longer.")
    outbox_stuck_minutes: float = _setting(10.0, "Minutes a message may be due in the outbox without being "
                                           "tried before /readyz reports the outbox stuck.")
    metrics_token: str = _setting("", "When set, /metrics requires \"Authorization: Bearer <token>\" (empty: "
                                  "only this machine may read it, or anyone in demo mode; keep /metrics away "
                                  "from the internet in nginx either way).",
                                  "GIGDESK_METRICS_TOKEN", secret=True)
    stations_stale_days: int = _setting(180, "Days after a station's `updated` date before the dashboard lists "
                                        "it as due for a check (phone the station, or compare with the union's "
                                        "published list).")
    reading_cache: int = _setting(20000, "Distinct message texts whose reading (matching, danger and handoff "
                                  "checks) the server remembers, per FAQ version; a repeated text skips the "
                                  "matcher. About 1 KB each; 0 turns it off.")
    demo: bool = _setting(False, "Demo mode: a demo token, no customer-service API needed. Never in production.")

    @property
    def db_path(self) -> Path:
        return Path(self.data_dir) / "gigdesk.db"

    @property
    def can_send_customer_messages(self) -> bool:
        return bool(self.wechat_appid and self.wechat_secret)

    def with_overrides(self, **overrides: Any) -> "Settings":
        return dataclasses.replace(self, **{k: v for k, v in overrides.items() if v is not None})


SETTINGS = {f.name: f for f in dataclasses.fields(Settings)}


def env_name(name: str) -> str:
    return SETTINGS[name].metadata["env"] or f"GIGDESK_{name.upper()}"


def _coerce(name: str, raw: Any) -> Any:
    default = SETTINGS[name].default
    try:
        if isinstance(default, bool):
            return raw if isinstance(raw, bool) else str(raw).lower() in ("1", "true", "yes", "on")
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
    except (TypeError, ValueError):
        raise SettingsError(f"setting {name} must be a number, got {raw!r}") from None
    return str(raw)


def load_settings(config_path: str | os.PathLike | None = None, environ: dict[str, str] | None = None,
                  **overrides: Any) -> Settings:
    """Defaults < gigdesk.toml < environment < explicit overrides (command-line flags)."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    path = Path(config_path) if config_path else Path("gigdesk.toml")
    if path.exists():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise SettingsError(f"{path}: not valid TOML ({exc})") from None
        unknown = sorted(set(data) - set(SETTINGS))
        if unknown:
            raise SettingsError(f"{path}: unknown setting(s) {', '.join(unknown)}")
        values.update({k: _coerce(k, v) for k, v in data.items()})
    elif config_path:
        raise SettingsError(f"config file {path} not found")
    for name in SETTINGS:
        if env_name(name) in environ:
            values[name] = _coerce(name, environ[env_name(name)])
    settings = Settings(**values).with_overrides(**overrides)
    if settings.demo and not settings.wechat_token:
        settings = dataclasses.replace(settings, wechat_token=DEMO_TOKEN)
    return settings


def validate_settings(settings: Settings) -> None:
    """Raise SettingsError with one clear line when the service cannot run safely."""
    if not settings.wechat_token:
        raise SettingsError("WECHAT_TOKEN is not set: copy the Token from the Official Account's "
                            "server settings (or run with --demo to try the bot locally)")
    if settings.wechat_aes_key:
        validate_aes_key(settings.wechat_aes_key)
    from bot.office_hours import OfficeHours, OfficeHoursError
    try:
        OfficeHours.parse(settings.office_hours, settings.timezone)
    except OfficeHoursError as exc:
        raise SettingsError(str(exc)) from None
    for pair in filter(None, settings.wechat_template_fields.split(";")):
        if "=" not in pair or len(pair.split("=", 1)[1].strip()) > 20:
            raise SettingsError(f"wechat_template_fields: {pair!r} must be name=value with at most 20 characters")
    if settings.log_format not in ("json", "text"):
        raise SettingsError(f"log_format must be json or text, got {settings.log_format!r}")
    if not settings.demo and not settings.can_send_customer_messages:
        raise SettingsError("WECHAT_APPID and WECHAT_SECRET must both be set: late answers and "
                            "caseworker replies go through the customer-service API")


def validate_aes_key(key: str) -> None:
    # wechatpy only asserts the length; a wrong key would fail on every message instead.
    if len(key) != 43:
        raise SettingsError(f"WECHAT_AES_KEY must be 43 characters (EncodingAESKey), got {len(key)}")
    try:
        base64.b64decode(key + "=", validate=True)
    except (binascii.Error, ValueError):
        raise SettingsError("WECHAT_AES_KEY is not a valid EncodingAESKey (letters and digits only)") from None
