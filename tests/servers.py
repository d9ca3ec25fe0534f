"""Servers the tests start for real, and stop: PostgreSQL (Debian's ``postgresql`` package) and a Dask cluster.

PostgreSQL runs from a scratch directory, as the ``postgres`` user when the tests run as root (``initdb`` refuses
root), listening on a unix socket in that directory only (no TCP port), with trust authentication.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

__all__ = ["DaskCluster", "PostgreSQL"]

MISSING_POSTGRESQL = "PostgreSQL's server is missing: install Debian's postgresql (`make postgresql`)"


def _postgres_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    if initdb is None:
        pytest.fail(MISSING_POSTGRESQL)
    return Path(initdb).parent


class PostgreSQL:
    """A PostgreSQL server of its own in a scratch directory; :meth:`database` makes a database on it."""

    def __init__(self) -> None:
        self.bin = _postgres_bin()
        self.dir = Path(tempfile.mkdtemp(prefix="autograder-postgres-"))
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.data = self.dir / "data"

    def _run(self, *command: str) -> None:
        done = subprocess.run([*self.as_user, *command], capture_output=True, text=True, check=False, timeout=120)
        if done.returncode != 0:
            pytest.fail(f"{' '.join(command)} failed:\n{done.stdout}{done.stderr}")

    def start(self) -> PostgreSQL:
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
                  "--locale=C", "--no-sync")
        options = f"-c listen_addresses='' -k {self.dir} -c fsync=off -c synchronous_commit=off"
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "server.log"), "-w", "-o",
                  options, "start")
        return self

    def stop(self) -> None:
        subprocess.run([*self.as_user, str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"],
                       capture_output=True, check=False, timeout=60)
        shutil.rmtree(self.dir, ignore_errors=True)

    def database(self, name: str) -> str:
        """Create database ``name``; return its SQLAlchemy URL (the psycopg driver, through the unix socket)."""
        import psycopg

        with psycopg.connect(host=str(self.dir), user="postgres", dbname="postgres", autocommit=True) as db:
            db.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://postgres@/{name}?host={self.dir}"


class DaskCluster:
    """A Dask scheduler and ``workers`` worker processes (one thread each), started with the ``dask`` command as
    the README tells an instructor; :attr:`address` is the scheduler's."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.dir = Path(tempfile.mkdtemp(prefix="autograder-dask-"))
        self.processes: list[subprocess.Popen[bytes]] = []
        self.address = ""

    def _start(self, *args: str) -> None:
        with (self.dir / f"{args[0]}.log").open("wb") as log:  # the child keeps its own copy of the descriptor
            self.processes.append(subprocess.Popen([sys.executable, "-m", "dask", *args], cwd=self.dir,
                                                   stdout=subprocess.DEVNULL, stderr=log, start_new_session=True))

    def start(self) -> DaskCluster:
        from distributed import Client

        scheduler_file = self.dir / "scheduler.json"
        self._start("scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard", "--scheduler-file",
                    str(scheduler_file))
        deadline = time.monotonic() + 60
        while not scheduler_file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        self._start("worker", "--scheduler-file", str(scheduler_file), "--nworkers", str(self.workers),
                    "--nthreads", "1", "--no-dashboard", "--host", "127.0.0.1")
        with Client(scheduler_file=str(scheduler_file), timeout="60s") as client:
            client.wait_for_workers(self.workers, timeout=120)
            self.address = client.scheduler.address
        return self

    def worker_pids(self) -> set[int]:
        from distributed import Client

        with Client(self.address, timeout="60s") as client:
            return set(client.run(os.getpid).values())

    def stop(self) -> None:
        for process in reversed(self.processes):
            try:
                os.killpg(process.pid, 15)
            except ProcessLookupError:
                continue
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, 9)
                process.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
