"""create_app(settings) -> web.Application: the channels, the engine and the storage wired
together. Shared objects are web.AppKey entries; resources are closed in cleanup_ctx."""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import jinja2
from aiohttp import web

from bot import console
from bot import health, metrics
from bot.brain import build_brain
from bot.channels import wechat, webchat
from bot.channels.wechat_protocol import SafeMode
from bot.console.api import ConsoleAPI
from bot.console.auth import Auth, make_guard
from bot.console.cases_api import CasesAPI
from bot.console.casework import Casework
from bot.console import dashboard_api
from bot.console.live import Hub
from bot.console import knowledge_api
from bot.console import openapi
from bot.console.pages import Pages, templates
from bot.console import stations_api
from bot.console import unanswered_api
from bot.conversation import Engine
from bot.delivery import Deliveries
from bot.httputil import BadRequest, behind_proxy
from bot.logs import quiet_malformed_requests
from bot.escalation import Escalator
from bot.evidence import EvidenceFetcher
from bot.office_hours import OfficeHours
from bot.outbox import Outbox, TemplateNotice
from bot.reloader import KnowledgeWatcher
from bot.settings import Settings
from bot.stations_desk import StationDesk
from bot.wechat_api import WeChatAPI
from knowledge import KnowledgeBase, KnowledgeError, load_knowledge
from storage import AsyncStore, open_store

log = logging.getLogger("gigdesk")
HERE = Path(__file__).resolve().parent

SETTINGS = web.AppKey("settings", Settings)
STORE = web.AppKey("store", AsyncStore)
ENGINE = web.AppKey("engine", Engine)
OUTBOX = web.AppKey("outbox", Outbox)
WATCHER = web.AppKey("watcher", KnowledgeWatcher)
HUB = web.AppKey("hub", Hub)
CHANGE_FEED = web.AppKey("change_feed", object)  # storage.live.SQLiteChangeFeed or storage.postgres.ChangeFeed
AUTH = web.AppKey("auth", Auth)
ESCALATOR = web.AppKey("escalator", Escalator)
EVIDENCE = web.AppKey("evidence", EvidenceFetcher)
DELIVERIES = web.AppKey("deliveries", Deliveries)


def load_or_fail(directory: str | Path) -> KnowledgeBase:
    kb, problems = load_knowledge(directory)
    if kb is None:
        raise KnowledgeError([p for p in problems if p.severity == "error"])
    return kb


def template_context(settings: Settings) -> dict[str, str]:
    return {"union_hotline": settings.union_hotline, "union_name": settings.union_name}


def pages() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True)


@web.middleware
async def errors(request: web.Request, handler) -> web.StreamResponse:
    """The last line of defence: no request ends in a bare 500 page or a crash."""
    try:
        return await handler(request)
    except BadRequest as bad:
        return bad.response()
    except web.HTTPException:
        raise
    except asyncio.CancelledError:
        raise
    except ConnectionResetError:
        # The client went away mid-request (a dropped phone connection, a closed console tab):
        # nothing to answer and nothing wrong here. 499 is nginx's status for it, so /metrics
        # does not count it as a server error.
        log.info("client went away during %s %s", request.method, request.path)
        return web.Response(status=499)
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        if request.path == "/wechat":  # WeChat shows riders an error page for anything else
            return web.Response(text="success", content_type="text/plain")
        return web.json_response({"error": "服务器出了点问题，请稍后再试"}, status=500)


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """On every response, static files and errors included: no version banner for a scanner to
    match against advisories, and no MIME sniffing of a rider's upload or a JSON body."""
    response.headers["Server"] = "gigdesk"
    response.headers["X-Content-Type-Options"] = "nosniff"


async def favicon(request: web.Request) -> web.FileResponse:
    return web.FileResponse(HERE / "static" / "favicon.svg",
                            headers={"Content-Type": "image/svg+xml", "Cache-Control": "max-age=86400"})


async def to_chat(request: web.Request) -> web.Response:
    raise web.HTTPFound("/chat")


def create_app(settings: Settings, kb: KnowledgeBase | None = None) -> web.Application:
    quiet_malformed_requests()  # however the app is served: a client's bad bytes get no traceback
    kb = kb or load_or_fail(settings.knowledge_dir)
    office_hours = OfficeHours.parse(settings.office_hours, settings.timezone)
    engine = Engine(build_brain(kb, settings.reading_cache), template_context(settings), office_hours=office_hours)
    # Demo mode's example stations are marked and only ever shown in demo mode.
    engine.stations = StationDesk(settings.knowledge_dir, settings.timezone, template_context(settings),
                                  include_samples=settings.demo)
    store = AsyncStore(open_store(settings.database_url, settings.db_path))
    hub = Hub()
    template = TemplateNotice.from_settings(settings.wechat_template_id, settings.wechat_template_fields,
                                            settings.public_url)
    outbox = Outbox(store, template=template, on_change=hub.changed)
    watcher = KnowledgeWatcher(settings.knowledge_dir, engine, settings.knowledge_poll_seconds)
    auth = Auth(store, settings.session_hours * 3600, secure_cookies=settings.public_url.startswith("https://"))
    escalator = Escalator(store, settings.escalate_after_minutes, settings.escalate_urgent_after_minutes,
                          webhook_url=settings.wecom_webhook_url, console_url=settings.public_url,
                          union_name=settings.union_name, on_change=hub.changed)

    evidence = EvidenceFetcher(store, Path(settings.data_dir) / "evidence")

    # Without a trusted proxy there is no header to read: one coroutine layer fewer per request.
    proxy = [behind_proxy(settings.trusted_proxy)] if settings.trusted_proxy else []
    app = web.Application(middlewares=[*proxy, metrics.count_requests, errors, make_guard(auth)])
    app.on_response_prepare.append(security_headers)
    app[SETTINGS], app[STORE], app[ENGINE], app[OUTBOX], app[WATCHER] = settings, store, engine, outbox, watcher
    app[HUB], app[AUTH], app[ESCALATOR], app[EVIDENCE] = hub, auth, escalator, evidence

    safe_mode = (SafeMode(settings.wechat_token, settings.wechat_aes_key, settings.wechat_appid)
                 if settings.wechat_aes_key else None)
    deliveries = Deliveries(store, engine)  # one queue, so both channels' messages share commits
    app[DELIVERIES] = deliveries
    webhook = wechat.Webhook(settings, store, engine, outbox, safe_mode, on_change=hub.changed, deliveries=deliveries)
    wechat.setup(app, webhook)
    webchat.setup(app, webchat.WebChat(store, engine, pages(), on_change=hub.changed, deliveries=deliveries))
    casework = Casework(store, outbox, hub, engine)
    console_pages = Pages(auth, templates(), watcher, settings.union_name)
    console.setup(app, ConsoleAPI(settings, store, casework, hub, auth.checks, template), console_pages,
                  CasesAPI(store, casework, engine, evidence.directory, settings.timezone))
    # Further console parts register their own routes here, each with its own setup().
    metrics.setup(app, settings, store, engine, outbox, watcher, deliveries)
    health.setup(app, settings, store, engine)
    dashboard_api.setup(app, console_pages, store, engine, settings.timezone)
    knowledge_api.setup(app, console_pages, store, engine, watcher, settings.knowledge_dir)
    unanswered_api.setup(app, console_pages, store, engine)
    stations_api.setup(app, console_pages, store, settings.stations_stale_days)
    openapi.setup(app)
    app.router.add_static("/static", HERE / "static")
    # Browsers ask for /favicon.ico whatever the page links; without this every console page
    # logged a 404.
    app.router.add_get("/favicon.ico", favicon)
    app.router.add_get("/", to_chat)

    async def begin_stopping(app: web.Application) -> None:
        hub.close()  # open console pages' event streams end, so shutdown does not wait on them
        # The outbox stops after the send in progress, so every message is recorded as sent or
        # still queued; cancelling mid-call could send one twice after the restart.
        if not await outbox.stop(settings.shutdown_timeout):
            log.warning("outbox send still in progress after %gs; it will be cut off and the message "
                        "sent again after the restart", settings.shutdown_timeout)

    app.on_shutdown.append(begin_stopping)

    # Other processes may share the database (workers, instances on other hosts, a `gigdesk`
    # command): console pages here hear of their changes too.
    feed = app[CHANGE_FEED] = store.store.change_feed()

    async def resources(app: web.Application) -> AsyncIterator[None]:
        session = aiohttp.ClientSession()
        if settings.can_send_customer_messages:
            outbox.api = evidence.api = WeChatAPI(session, settings.wechat_api_base, settings.wechat_appid,
                                                  settings.wechat_secret)
        escalator.session = session
        background = [asyncio.create_task(watcher.run()), asyncio.create_task(outbox.run()),
                      asyncio.create_task(escalator.run()), asyncio.create_task(evidence.run())]
        hub.on_local_change = feed.announce_soon
        background.append(asyncio.create_task(feed.run(hub.changed_elsewhere)))
        yield
        await webhook.drain()  # answers that missed WeChat's deadline are queued before the database closes
        for task in background:
            task.cancel()
        for task in background:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await session.close()
        hub.on_local_change = None
        await feed.close()
        await store.close()
        auth.checks.close()

    app.cleanup_ctx.append(resources)
    return app
