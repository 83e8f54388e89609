"""A throw-away PostgreSQL cluster for the benchmark: Debian's server binaries, initdb in a
folder of the bench's work directory, a unix socket there and no TCP, stopped and removed at
the end. Unlike the test suite's cluster (scripts/test.sh) it keeps PostgreSQL's durable
defaults (fsync, synchronous_commit): the figures are for a database a union would run.

As root, initdb and the server run as Debian's `postgres` user, which they require."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path


def server_binaries() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                   key=lambda p: [int(x) for x in p.parent.parent.name.split(".") if x.isdigit()])
    return found[-1].parent if found else None


class Cluster:
    def __init__(self):
        self.folder: Path | None = None  # a temporary folder of its own: postgres must reach it
        self.bin = server_binaries()
        self.as_pg = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        self.started = False

    @property
    def available(self) -> bool:
        return self.bin is not None and (not self.as_pg or shutil.which("runuser") is not None)

    def start(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="gigdesk-bench-pg-"))
        if self.as_pg:
            shutil.chown(self.folder, "postgres")
        data = self.folder / "data"
        self._run("initdb", "-D", str(data), "-U", "gigdesk", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8")
        self._run("pg_ctl", "-D", str(data), "-l", str(self.folder / "server.log"), "-w", "-t", "60",
                  "-o", f"-c listen_addresses='' -k {self.folder} -c max_connections=200", "start")
        self.started = True

    def create_database(self, name: str) -> str:
        """An empty database; its URL."""
        subprocess.run([str(self.bin / "createdb"), "-h", str(self.folder), "-U", "gigdesk", name], check=True)
        return f"postgresql://gigdesk@/{name}?host={self.folder}"

    def postmaster_pid(self) -> int:
        return int((self.folder / "data" / "postmaster.pid").read_text().split()[0])

    def pids(self) -> list[int]:
        """The server and its backends, for their CPU time."""
        postmaster = self.postmaster_pid()
        children = Path(f"/proc/{postmaster}/task/{postmaster}/children").read_text().split()
        return [postmaster, *map(int, children)]

    def stop(self) -> None:
        if self.started:
            self._run("pg_ctl", "-D", str(self.folder / "data"), "-m", "fast", "-w", "stop", check=False)
            self.started = False
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)

    def _run(self, tool: str, *args: str, check: bool = True) -> None:
        subprocess.run([*self.as_pg, str(self.bin / tool), *args], check=check, stdout=subprocess.DEVNULL,
                       stderr=subprocess.STDOUT)
