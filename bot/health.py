"""/healthz and /readyz for a load balancer, systemd or a monitoring check, and what the app
does when it is asked to stop.

/healthz answers 200 whenever the process serves requests at all. /readyz answers 200 only
when gigdesk can do its work: the database takes a write, the FAQ is loaded, the outbox is not
stuck, and the server is not stopping; otherwise 503 with each failed check in plain words.

Stopping (SIGTERM): aiohttp's run_app closes the listening socket, then runs on_shutdown
(here: /readyz turns 503; bot.app: the outbox finishes the send in progress and stops), then waits up to
shutdown_timeout for requests in progress, then runs cleanup (background tasks cancelled,
database closed); see bot.cli.cmd_serve."""
from __future__ import annotations

import asyncio
import logging
import time

from aiohttp import web

from bot.console.auth import public
from bot.conversation import Engine
from bot.settings import Settings
from storage import AsyncStore
from storage.sql import DatabaseErrors

log = logging.getLogger("gigdesk.health")

# A probe must answer quickly even when the database thread is busy: longer than this, and
# the database counts as not responding.
DATABASE_CHECK_SECONDS = 3.0
OK = "ok"


class Health:
    def __init__(self, settings: Settings, store: AsyncStore, engine: Engine):
        self.store = store
        self.engine = engine
        self.stuck_after = settings.outbox_stuck_minutes * 60
        self.shutdown_timeout = settings.shutdown_timeout
        self.stopping = False

    @public
    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": OK})

    @public
    async def readyz(self, request: web.Request) -> web.Response:
        checks = {"serving": "正在停止服务，不再接收新的请求" if self.stopping else OK,
                  "database": await self.check_database(),
                  "knowledge": self.check_knowledge(),
                  "outbox": await self.check_outbox()}
        failed = [name for name, result in checks.items() if result != OK]
        if not failed:
            return web.json_response({"ready": True, "checks": checks})
        return web.json_response({"ready": False, "checks": checks, "failed": failed,
                                  "error": "没有就绪：" + "；".join(checks[name] for name in failed)},
                                 status=503)

    async def check_database(self) -> str:
        try:
            await asyncio.wait_for(self.store.run(self.store.store.check_writable), DATABASE_CHECK_SECONDS)
        except asyncio.TimeoutError:
            return f"数据库 {DATABASE_CHECK_SECONDS:g} 秒内没有响应"
        except DatabaseErrors as exc:
            return f"数据库无法写入（{exc}）"
        except RuntimeError:  # the database thread has been shut down
            return "数据库已关闭"
        return OK

    def check_knowledge(self) -> str:
        brain = self.engine.brain
        if brain is None or not brain.kb.entries:
            return "知识库没有加载，机器人无法回答问题"
        return OK

    async def check_outbox(self) -> str:
        now = time.time()
        try:
            oldest = await asyncio.wait_for(self.store.run(self.store.store.oldest_due_outbox, now),
                                            DATABASE_CHECK_SECONDS)
        except (asyncio.TimeoutError, *DatabaseErrors, RuntimeError):
            return "无法读取发送队列"  # the database check says why
        if oldest is not None and now - oldest > self.stuck_after:
            return (f"发送队列卡住了：有消息到了发送时间 {(now - oldest) / 60:.0f} 分钟还没有发出"
                    "（连不上微信，或发送程序停了）")
        return OK

    async def on_shutdown(self, app: web.Application) -> None:
        """First step of stopping: a load balancer asking /readyz now hears 503."""
        self.stopping = True
        log.info("stopping: no new connections; requests in progress get up to %gs", self.shutdown_timeout)

    async def on_cleanup(self, app: web.Application) -> None:
        log.info("stopped: requests finished, background tasks ended, database closed")


HEALTH = web.AppKey("health", Health)


def setup(app: web.Application, settings: Settings, store: AsyncStore, engine: Engine) -> Health:
    health = Health(settings, store, engine)
    app[HEALTH] = health
    app.router.add_get("/healthz", health.healthz)
    app.router.add_get("/readyz", health.readyz)
    app.on_shutdown.append(health.on_shutdown)
    app.on_cleanup.append(health.on_cleanup)
    return health
