"""Handling one delivery of a rider's message exactly once, whichever channel it came by.

Two steps on the database thread. First the rider's row and open conversation are read and the
message is decided with no transaction open: understanding the message is most of the work,
and no write lock is held for it. Then one short transaction claims the delivery key and
stores the message, what was decided and the reply, after checking that what the decision
read is still what is stored; if it is not (another process, or the console, changed the
conversation in between), the message is decided again inside the transaction. A crash
before the commit leaves nothing claimed, so the sender's retry is answered as new."""
from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from bot.conversation import Engine, Inbound, Reply
from bot.conversation.model import Decision, Turn
from storage import AsyncStore, Store
from storage.store import fresh_conversation

log = logging.getLogger("gigdesk.delivery")
# Group commit's bounds: a batch takes at most this many deliveries, and stops taking more
# after deciding for this long, so one message waits at most about one batch for the others.
MAX_BATCH = 64
DECIDE_SECONDS = 0.025

# What a decision reads from the rider's row (and apply writes): a change here re-decides.
RIDER_FIELDS = ("subscribed", "privacy_noticed_at")


@dataclass(frozen=True)
class Outcome:
    """What one delivery produced: the reply, or for a retry what the first delivery said."""
    reply_text: str | None
    retry: bool
    late: bool = False
    reply: Reply | None = None
    released: int = 0  # held outbox messages this message let go


@dataclass
class Decided:
    """A message decided outside the transaction, and what the decision was made on."""
    rider: dict[str, Any] | None  # as read (None: a rider not seen before)
    conversation: dict[str, Any] | None  # the open one as read (None: none yet)
    turn: Turn
    decision: Decision


def handle_delivery(store: Store, engine: Engine, key: str, inbound: Inbound) -> Outcome:
    """One delivery on its own, on the database thread (the terminal chat, tests)."""
    decided = decide(store, engine, inbound)
    with store.transaction():
        outcome = record(store, engine, key, inbound, decided)
    _observe(engine, outcome)
    return outcome


def decide(store: Store, engine: Engine, inbound: Inbound) -> Decided:
    """Reads and decides; writes nothing."""
    rider_id = f"{inbound.channel}:{inbound.openid}"
    rider, conversation = store.delivery_view(rider_id)
    turn = engine.turn(store, inbound, conversation or fresh_conversation(rider_id, inbound.received_at))
    return Decided(rider, conversation, turn, engine.fit_channel(turn, engine.decide(turn)))


def record(store: Store, engine: Engine, key: str, inbound: Inbound, decided: Decided | None) -> Outcome:
    """Inside the transaction: claim the key, check what the decision read, store it all.
    decided None: decide here, after the claim (a second message of a rider in one batch)."""
    rider_id, now = f"{inbound.channel}:{inbound.openid}", inbound.received_at
    planned = decided.decision.reply.text if decided and decided.decision.reply else None
    if not store.claim_delivery(key, rider_id, now, [planned] if planned else []):
        row = store.delivery(key) or {}
        replies = json.loads(row.get("replies") or "[]")
        return Outcome(replies[0] if replies else None, retry=True, late=bool(row.get("late")))
    # On PostgreSQL the rider's upsert locks the rider's row and the read locks the conversation's,
    # so another instance's delivery for this rider, or a caseworker's claim, waits for this commit.
    rider = store.touch_rider(inbound.channel, inbound.openid, now)
    conversation = store.current_conversation(rider_id, lock=True)
    if decided is not None and conversation == decided.conversation and not _changed(decided.rider, rider):
        turn, decision = decided.turn, decided.decision
        if conversation is None:  # the first message: decided on fresh_conversation(), now written
            turn = dataclasses.replace(turn, conversation=store.new_conversation(rider_id, now))
    else:  # changed since it was read, or not decided yet: decide now, on what is stored
        turn = engine.turn(store, inbound, conversation or store.new_conversation(rider_id, now))
        decision = engine.fit_channel(turn, engine.decide(turn))
    reply = engine.record(store, turn, decision)
    text = reply.text if reply else None
    if text != planned:  # decided here, or a case's number named in the reply
        store.finish_delivery(key, [text] if text else [], late=False)
    released = 0
    if inbound.channel == "wechat" and inbound.kind != "event":
        # A rider message reopens WeChat's window and quota: held caseworker replies can go.
        released = store.release_held_outbox(rider_id, now)
    return Outcome(text, retry=False, reply=reply, released=released)


@dataclass
class _Waiting:
    key: str
    inbound: Inbound
    future: asyncio.Future
    decided: Decided | None = None
    result: Outcome | BaseException | None = None


class Deliveries:
    """Group commit. Deliveries that arrive while the database thread is busy wait in one queue;
    the next batch takes them (at most max_batch, and only for decide_seconds: the bound on how
    long one waits for the others), decides each with no transaction open, then writes them
    all in one transaction. Each is answered only after that commit, so an acknowledged reply
    is on disk (WAL) whatever happens next."""

    def __init__(self, store: AsyncStore, engine: Engine, max_batch: int = MAX_BATCH,
                 decide_seconds: float = DECIDE_SECONDS):
        self.store, self.engine = store, engine
        self.max_batch, self.decide_seconds = max_batch, decide_seconds
        self._queue: deque[_Waiting] = deque()  # appended on the event loop, taken on the database thread
        self._drainer: asyncio.Future | None = None
        self.batches = 0  # transactions written, and the deliveries in them (tests, /metrics)
        self.delivered = 0

    def submit(self, key: str, inbound: Inbound) -> asyncio.Future:
        """The Outcome, once committed. Cancelling the future does not take the message back."""
        future = asyncio.get_running_loop().create_future()
        self._queue.append(_Waiting(key, inbound, future))
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.ensure_future(self._drain())
        return future

    async def deliver(self, key: str, inbound: Inbound) -> Outcome:
        return await asyncio.shield(self.submit(key, inbound))

    def waiting(self) -> int:
        return len(self._queue)

    async def _drain(self) -> None:
        while self._queue:
            try:
                done = await self.store.run(self._batch)
            except Exception as exc:  # the database thread is gone (shutdown): nothing was taken
                log.error("deliveries not written: %r", exc)
                while self._queue:
                    _settle(self._queue.popleft().future, exc)
                return
            for waiting in done:
                _settle(waiting.future, waiting.result)

    def _batch(self) -> list[_Waiting]:
        """On the database thread: take what waits, decide each, write them in one transaction."""
        taken: list[_Waiting] = []
        try:
            self._take_and_write(taken)
        except Exception as exc:  # a bug here must not leave a rider's request waiting for ever
            log.exception("delivery batch failed")
            for waiting in taken:
                if waiting.result is None:
                    waiting.result = exc
        return taken

    def _take_and_write(self, taken: list[_Waiting]) -> None:
        store, engine = self.store.store, self.engine
        keys, riders = set(), set()
        started = time.monotonic()
        while self._queue and len(taken) < self.max_batch and time.monotonic() - started < self.decide_seconds:
            waiting = self._queue.popleft()
            taken.append(waiting)
            rider_id = f"{waiting.inbound.channel}:{waiting.inbound.openid}"
            # A retry of a message in this batch is answered from the first's row; a rider's
            # second message is decided after the first is written, inside the transaction.
            if waiting.key not in keys and rider_id not in riders:
                try:
                    waiting.decided = decide(store, engine, waiting.inbound)
                except Exception as exc:
                    waiting.result = exc
                    continue
            keys.add(waiting.key)
            riders.add(rider_id)
        todo = [w for w in taken if w.result is None]
        try:
            with store.transaction():
                for waiting in todo:
                    waiting.result = record(store, engine, waiting.key, waiting.inbound, waiting.decided)
        except Exception:
            # All of the batch was rolled back. Each again in a transaction of its own, so that
            # only the one that fails goes unanswered (and is stored as new on WeChat's retry).
            log.warning("a batch of %d deliveries failed; writing each alone", len(todo), exc_info=True)
            for waiting in todo:
                try:
                    with store.transaction():
                        waiting.result = record(store, engine, waiting.key, waiting.inbound, waiting.decided)
                except Exception as exc:
                    waiting.result = exc
        self.batches += 1
        self.delivered += sum(isinstance(w.result, Outcome) and not w.result.retry for w in todo)
        for waiting in todo:
            _observe(engine, waiting.result)


def _settle(future: asyncio.Future, result: Outcome | BaseException | None) -> None:
    if future.done():  # its caller went away; the message is stored all the same
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)


def _observe(engine: Engine, outcome: Outcome | BaseException | None) -> None:
    """After the commit: a failing hook (metrics) is logged and costs the rider nothing."""
    if isinstance(outcome, Outcome) and not outcome.retry:
        try:
            engine.observe(outcome.reply)
        except Exception:
            log.exception("engine.observe failed")


def _changed(before: dict[str, Any] | None, now: dict[str, Any]) -> bool:
    """A rider not seen before reads as a new row would be."""
    was = before or {"subscribed": 1, "privacy_noticed_at": None}
    return any(was[name] != now[name] for name in RIDER_FIELDS)
