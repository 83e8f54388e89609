"""/metrics in Prometheus' text format, for the union's IT person.

Each app has its own CollectorRegistry (tests build many apps in one process; the global
registry would refuse the second). Requests are counted by the route's pattern, such as
/api/conversations/{id}, never the raw path, so the set of label values stays small whatever
anyone requests. Figures that live in the database (the handoff queue, the outbox) are read
once per scrape, on the database thread, rather than kept in step by every code path."""
from __future__ import annotations

import asyncio
import ipaddress
import os
import time
from collections.abc import Iterator

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from bot.console.auth import public
from bot.conversation import Engine, Reply
from bot.delivery import Deliveries
from bot.httputil import json_error, same_secret
from bot.outbox import Outbox
from bot.reloader import KnowledgeWatcher
from bot.settings import Settings
from storage import AsyncStore

# WeChat waits 5 s for a passive reply and gigdesk answers by reply_deadline (4 s by default):
# the buckets are finest where an answer is fast, and mark the deadline and the give-up point.
WEBHOOK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0)
UNMATCHED = "(no route)"  # every 404 shares one label, whatever path was asked for


class KnowledgeCollector:
    """Reload counts kept by the watcher, read at scrape time."""

    def __init__(self, watcher: KnowledgeWatcher, engine: Engine):
        self.watcher, self.engine = watcher, engine

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily("gigdesk_knowledge_reloads", "FAQ reloads after an edit that loaded",
                                  value=self.watcher.reloads)
        yield CounterMetricFamily("gigdesk_knowledge_reload_errors",
                                  "FAQ edits that did not load (the last good version kept serving)",
                                  value=self.watcher.failures)
        yield GaugeMetricFamily("gigdesk_knowledge_entries", "FAQ entries now serving",
                                value=len(self.engine.brain.kb.entries))


class DeliveryCollector:
    """Group commit and the reading memo, read at scrape time: deliveries per transaction
    (written / batches) shows how much commits are shared; waiting, a backlog building up."""

    def __init__(self, deliveries: Deliveries, engine: Engine):
        self.deliveries, self.engine = deliveries, engine

    def collect(self) -> Iterator[Metric]:
        d, memo = self.deliveries, self.engine.brain.memo
        yield CounterMetricFamily("gigdesk_delivery_batches", "Transactions that wrote riders' messages "
                                  "(group commit: several deliveries each under load)", value=d.batches)
        yield CounterMetricFamily("gigdesk_deliveries_written", "Riders' messages written by those transactions",
                                  value=d.delivered)
        yield GaugeMetricFamily("gigdesk_deliveries_waiting", "Riders' messages waiting for the database thread",
                                value=d.waiting())
        yield CounterMetricFamily("gigdesk_reading_cache_hits", "Messages whose reading was remembered "
                                  "(reading_cache), since the FAQ was last loaded", value=memo.hits)
        yield CounterMetricFamily("gigdesk_reading_cache_misses", "Readings worked out afresh, since the FAQ "
                                  "was last loaded", value=memo.misses)


class Metrics:
    def __init__(self, settings: Settings, store: AsyncStore, engine: Engine, outbox: Outbox,
                 watcher: KnowledgeWatcher, deliveries: Deliveries | None = None):
        self.token = settings.metrics_token
        self.demo = settings.demo
        self.store = store
        self.registry = registry = CollectorRegistry()
        ProcessCollector(registry=registry)  # memory, CPU, open files of this process
        registry.register(KnowledgeCollector(watcher, engine))
        if deliveries is not None:
            registry.register(DeliveryCollector(deliveries, engine))
        self.requests = Counter("gigdesk_http_requests", "HTTP requests by route pattern, method and status",
                                ["route", "method", "status"], registry=registry)
        self.in_progress = Gauge("gigdesk_http_requests_in_progress", "HTTP requests being handled now",
                                 registry=registry)
        self.webhook_seconds = Histogram("gigdesk_webhook_seconds", "Time to answer WeChat's POST /wechat",
                                         buckets=WEBHOOK_BUCKETS, registry=registry)
        self.outcomes = Counter("gigdesk_engine_outcomes", "What the bot did with a rider's message "
                                "(answer, clarify, fallback, handoff, emergency, ...; silent: nothing said)",
                                ["outcome"], registry=registry)
        self.outbox_attempts = Counter("gigdesk_outbox_attempts", "Customer-service sends by result: sent; "
                                       "retry (failed, will try again); failed (for good); held (outside "
                                       "WeChat's window or quota)", ["result"], registry=registry)
        self.waiting = Gauge("gigdesk_handoff_waiting", "Conversations waiting for a person",
                             ["urgent"], registry=registry)
        self.assigned = Gauge("gigdesk_handoff_assigned", "Conversations a caseworker is handling",
                              registry=registry)
        self.oldest_wait = Gauge("gigdesk_handoff_oldest_wait_seconds",
                                 "How long the longest-waiting conversation has waited (0: nobody waits)",
                                 registry=registry)
        self.outbox_items = Gauge("gigdesk_outbox_messages", "Outbox messages by state (queued: to send; "
                                  "held: until the rider writes again; failed: never sent)", ["state"],
                                  registry=registry)
        # With `gigdesk serve --workers N` a scrape reaches one worker, and every counter here is
        # that worker's own: this says which (bot.workers sets GIGDESK_WORKER; 0 alone).
        Gauge("gigdesk_worker", "The worker of this host that answered this scrape", ["worker"],
              registry=registry).labels(worker=os.environ.get("GIGDESK_WORKER", "0")).set(1)
        self._request_children: dict[tuple[str, str, str], Counter] = {}
        self._outcome_children: dict[str, Counter] = {}
        engine.observe = self.count_outcome
        outbox.on_result = lambda result: self.outbox_attempts.labels(result=result).inc()

    def count_outcome(self, reply: Reply | None) -> None:
        outcome = reply.outcome if reply else "silent"
        child = self._outcome_children.get(outcome)
        if child is None:
            child = self._outcome_children[outcome] = self.outcomes.labels(outcome=outcome)
        child.inc()

    def count_request(self, route: str, method: str, status: str, started: float) -> None:
        # labels() takes a lock and checks its arguments (5 us); the few label sets a server
        # sees are looked up once each.
        key = (route, method, status)
        child = self._request_children.get(key)
        if child is None:
            child = self._request_children[key] = self.requests.labels(route=route, method=method, status=status)
        child.inc()
        if route == "/wechat" and method == "POST":
            self.webhook_seconds.observe(time.perf_counter() - started)

    @public
    async def serve(self, request: web.Request) -> web.Response:
        if not self.token and not self.demo and not _loopback(request.remote):
            return json_error(403, "没有设置 metrics_token 时，/metrics 只对本机开放（GIGDESK_METRICS_TOKEN）")
        if self.token and not _bearer_ok(request, self.token):
            response = json_error(401, "需要访问令牌：Authorization: Bearer <令牌>")
            response.headers["WWW-Authenticate"] = 'Bearer realm="gigdesk metrics"'
            return response
        figures = await self.store.run(self.store.store.ops_figures, time.time())
        self.waiting.labels(urgent="no").set(figures["waiting"] - figures["waiting_urgent"])
        self.waiting.labels(urgent="yes").set(figures["waiting_urgent"])
        self.assigned.set(figures["assigned"])
        self.oldest_wait.set(figures["oldest_wait_seconds"])
        for state in ("queued", "held", "failed"):
            self.outbox_items.labels(state=state).set(figures["outbox"][state])
        # The classic text format: every Prometheus version reads it.
        return web.Response(body=generate_latest(self.registry),
                            headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4})


def _loopback(address: str | None) -> bool:
    """The request came from this machine (after behind_proxy: nginx's X-Real-IP counts)."""
    try:
        return address is not None and ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _bearer_ok(request: web.Request, token: str) -> bool:
    scheme, _, sent = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and same_secret(sent.strip(), token)


METRICS = web.AppKey("metrics", Metrics)


def route_label(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else UNMATCHED


@web.middleware
async def count_requests(request: web.Request, handler) -> web.StreamResponse:
    """Outermost middleware: sees the final status of every request, errors included."""
    metrics = request.app.get(METRICS)
    if metrics is None:
        return await handler(request)
    started, status = time.perf_counter(), "500"
    metrics.in_progress.inc()
    try:
        response = await handler(request)
        status = str(response.status)
        return response
    except web.HTTPException as exc:
        status = str(exc.status)
        raise
    except asyncio.CancelledError:  # the client went away, or shutdown ran out of time
        status = "cancelled"
        raise
    finally:
        metrics.in_progress.dec()
        metrics.count_request(route_label(request), request.method, status, started)


def setup(app: web.Application, settings: Settings, store: AsyncStore, engine: Engine, outbox: Outbox,
          watcher: KnowledgeWatcher, deliveries: Deliveries | None = None) -> Metrics:
    metrics = Metrics(settings, store, engine, outbox, watcher, deliveries)
    app[METRICS] = metrics
    app.router.add_get("/metrics", metrics.serve)
    return metrics
