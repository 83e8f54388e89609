"""The caseworker console at /console and its JSON API at /api."""
from __future__ import annotations

from pathlib import Path

from aiohttp import web

from bot.console.api import ConsoleAPI
from bot.console.cases_api import CasesAPI
from bot.console.pages import Pages

HERE = Path(__file__).resolve().parent


def setup(app: web.Application, api: ConsoleAPI, pages: Pages, cases: CasesAPI) -> None:
    r = app.router
    r.add_get("/console/login", pages.login_form)
    r.add_post("/console/login", pages.login)
    r.add_post("/console/logout", pages.logout)
    r.add_get("/console", pages.home)
    r.add_get("/console/queue", pages.queue)
    r.add_get("/console/conversations/{id}", pages.conversation)
    r.add_get("/console/users", pages.users)
    r.add_get("/console/knowledge", pages.knowledge)
    r.add_get("/console/cases", pages.cases)
    r.add_get("/console/cases/{id}", pages.case)
    r.add_static("/static/console", HERE / "static")

    r.add_get("/api/me", api.me)
    r.add_get("/api/queue", api.queue)
    r.add_get("/api/events", api.events)
    r.add_get("/api/conversations/{id}", api.conversation)
    r.add_get("/api/conversations/{id}/messages", api.messages_after)
    r.add_post("/api/conversations/{id}/messages", api.reply)
    r.add_post("/api/conversations/{id}/claim", api.claim)
    r.add_post("/api/conversations/{id}/release", api.release)
    r.add_post("/api/conversations/{id}/transfer", api.transfer)
    r.add_post("/api/conversations/{id}/close", api.close)
    r.add_post("/api/conversations/{id}/notes", api.note)
    r.add_post("/api/outbox/{id}/retry", api.retry)
    r.add_get("/api/canned", api.canned)
    r.add_get("/api/colleagues", api.colleagues)
    r.add_get("/api/users", api.users)
    r.add_post("/api/users", api.add_user)
    r.add_post("/api/users/{id}", api.update_user)
    r.add_get("/api/audit", api.audit)

    r.add_get("/api/cases", cases.list)
    r.add_get("/api/cases.csv", cases.export)
    r.add_get("/api/cases/{id}", cases.detail)
    r.add_get("/api/cases/{id}/notice", cases.notice)
    r.add_post("/api/cases/{id}/status", cases.change_status)
    r.add_post("/api/cases/{id}/assign", cases.assign)
    r.add_post("/api/cases/{id}/notes", cases.note)
    r.add_get("/api/evidence/{id}", cases.evidence_file)
