"""`gigdesk serve --workers N`: N processes serving one address on one host.

The supervisor (the process systemd started) makes the schema and demo data once, then starts
N workers, each `gigdesk serve` with the same settings. Each worker binds its own socket to
the address with SO_REUSEPORT, and only once its FAQ is built and it can answer: the kernel
then spreads new connections over the workers that are listening (one shared socket would
wake every worker for each connection and favour whichever wins), and never queues a rider's
connection on a worker still starting.

What must happen once across workers is decided by the database, never by one worker's
memory: a delivery's unique key (a WeChat retry that reaches another worker gets the first
one's reply), the outbox's claims and leases, the escalator's conditional mark, evidence
leases, and console pages hearing of every worker's changes (storage.live, or
LISTEN/NOTIFY on PostgreSQL). Each worker reloads its own copy of the FAQ when the files
change; an edit saved in the console is written and recorded once, by the worker that took it.

A worker that dies (kill -9, the OOM killer) is started again after a second; it loses
nothing that was acknowledged, as one process does not. A worker that keeps dying as it
starts (a broken setting, the port taken by something else) stops the supervisor instead of
looping. SIGTERM or SIGINT is passed to every worker, each finishes its requests as a single
process does, and the supervisor exits 0 once all have."""
from __future__ import annotations

import errno
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass

log = logging.getLogger("gigdesk.workers")

RESTART_DELAY = 1.0
# A worker that exits within this many seconds of starting, this many times in a row, is
# not going to start: the supervisor gives up.
EARLY_EXIT_SECONDS = 30.0
EARLY_EXITS_ALLOWED = 3
POLL_SECONDS = 0.2


def port_free_for_workers(host: str, port: int) -> str | None:
    """None when workers can bind host:port with SO_REUSEPORT; else why not, in one line."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return f"{host}:{port} is already in use by another program"
            return f"cannot listen on {host}:{port}: {exc.strerror}"
    return None


@dataclass
class Worker:
    index: int
    proc: subprocess.Popen | None = None
    started_at: float = 0.0
    early_exits: int = 0
    restart_at: float | None = None


class Supervisor:
    def __init__(self, count: int, argv: list[str], shutdown_timeout: float):
        self.workers = [Worker(i) for i in range(count)]
        self.argv = argv  # one worker's command line
        # A worker takes up to shutdown_timeout for requests and as long again to cancel the rest.
        self.stop_within = 2 * shutdown_timeout + 5
        self.stopping = False

    def start(self, worker: Worker) -> None:
        env = {**os.environ, "GIGDESK_WORKER": str(worker.index)}
        worker.proc = subprocess.Popen(self.argv, env=env)
        worker.started_at, worker.restart_at = time.monotonic(), None

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        for worker in self.workers:
            self.start(worker)
        while not self.stopping:
            for worker in self.workers:
                if self._check(worker) is False:
                    self._stop(signal.SIGTERM, None)
                    self._wait_all()
                    return 1
            time.sleep(POLL_SECONDS)
        return self._wait_all()

    def _check(self, worker: Worker) -> bool:
        """False when this worker will not start; True otherwise (running, or restarted)."""
        now = time.monotonic()
        if worker.restart_at is not None:
            if now >= worker.restart_at and not self.stopping:
                self.start(worker)
            return True
        code = worker.proc.poll() if worker.proc else 0
        if code is None:
            if now - worker.started_at > EARLY_EXIT_SECONDS:
                worker.early_exits = 0
            return True
        if self.stopping:
            return True
        early = now - worker.started_at < EARLY_EXIT_SECONDS
        worker.early_exits = worker.early_exits + 1 if early else 0
        how = f"was killed by signal {-code}" if code < 0 else f"exited with status {code}"
        if worker.early_exits >= EARLY_EXITS_ALLOWED:
            log.error("worker %d %s %d times as it started; stopping all workers", worker.index, how,
                      worker.early_exits)
            return False
        log.error("worker %d (pid %d) %s; starting it again", worker.index, worker.proc.pid, how)
        worker.restart_at = now + RESTART_DELAY
        return True

    def _stop(self, signum, frame) -> None:
        self.stopping = True
        for worker in self.workers:
            if worker.proc is not None and worker.proc.poll() is None:
                worker.proc.send_signal(signal.SIGTERM)

    def _wait_all(self) -> int:
        deadline = time.monotonic() + self.stop_within
        for worker in self.workers:
            if worker.proc is None:
                continue
            try:
                worker.proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.error("worker %d did not stop within %gs; killing it", worker.index, self.stop_within)
                worker.proc.kill()
                worker.proc.wait()
        return 0


def worker_argv(args) -> list[str]:
    """The command line of one worker: this serve's own options, one worker, its own socket."""
    argv = [sys.executable, "-m", "bot.cli", "serve", "--workers", "1", "--reuse-port"]
    for option in ("config", "data_dir", "knowledge_dir", "host", "port"):
        value = getattr(args, option, None)
        if value is not None:
            argv += [f"--{option.replace('_', '-')}", str(value)]
    if getattr(args, "demo", False):
        argv.append("--demo")
    return argv
