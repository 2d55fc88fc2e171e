"""A throw-away PostgreSQL cluster for the register's tests (no fixtures here, just code).

``MCHUB_TEST_POSTGRES_DSN`` points the tests at an existing server (a role that may
create schemas). Otherwise :func:`shared_cluster` starts a cluster from Debian's binaries
(``/usr/lib/postgresql/*/bin``; ``deploy/local/install-postgres.sh`` installs them when
missing) in a fresh temporary directory on a free loopback port, with trust
authentication for the role ``mchub`` and durability off (fsync, synchronous commit),
and stops and deletes it when the last user releases it. ``initdb`` refuses to run as
root, so under root the cluster runs as the ``postgres`` system user that Debian's
package creates (``runuser -u postgres --``); the directory is made under ``/tmp``
because pytest's own temporary root is private to root.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

REPO_ROOT = Path(__file__).resolve().parents[3]
INSTALL_SCRIPT = REPO_ROOT / "deploy" / "local" / "install-postgres.sh"
ROLE = "mchub"


def find_bindir() -> Path | None:
    """The newest ``/usr/lib/postgresql/<major>/bin`` that has ``initdb``, or None."""
    found = [p.parent for p in Path("/usr/lib/postgresql").glob("*/bin/initdb")]
    if not found:
        return None

    def major(path: Path) -> int:
        match = re.fullmatch(r"[0-9]+", path.parent.name)
        return int(match.group(0)) if match else 0

    return max(found, key=major)


def ensure_bindir() -> Path:
    """Debian's PostgreSQL binaries, installed by the project's script when missing."""
    bindir = find_bindir()
    if bindir is None:
        subprocess.run(["bash", str(INSTALL_SCRIPT)], check=True, timeout=900)
        bindir = find_bindir()
    if bindir is None:
        raise RuntimeError(f"no PostgreSQL binaries after running {INSTALL_SCRIPT}")
    return bindir


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresCluster:
    """One ``initdb``-made cluster in its own directory, started with ``pg_ctl``."""

    def __init__(self, bindir: Path) -> None:
        """Prepare (not start) a cluster from the binaries in ``bindir``."""
        self.bindir = bindir
        self.base = Path(tempfile.mkdtemp(prefix="mchub-register-pg-"))
        self.data = self.base / "data"
        self.log = self.base / "server.log"
        self.port = 0
        self.run_as = "postgres" if os.geteuid() == 0 else None
        if self.run_as is not None:
            shutil.chown(self.base, user=self.run_as, group=None)

    def _cmd(self, *args: str, timeout: float = 120.0) -> None:
        prefix = ["runuser", "-u", self.run_as, "--"] if self.run_as else []
        proc = subprocess.run([*prefix, *args], capture_output=True, text=True,
                              timeout=timeout, check=False)
        if proc.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{args[0]} failed ({proc.returncode}): "
                               f"{proc.stderr.strip() or proc.stdout.strip()}\n{log}")

    def start(self) -> str:
        """initdb and start; the DSN of the ``postgres`` database as role ``mchub``."""
        self._cmd(str(self.bindir / "initdb"), "-D", str(self.data), "-U", ROLE,
                  "-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync")
        self.port = _free_port()
        options = (f"-c listen_addresses=127.0.0.1 -p {self.port}"
                   f" -c unix_socket_directories={self.base}"
                   " -c fsync=off -c synchronous_commit=off -c full_page_writes=off")
        self._cmd(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log),
                  "-o", options, "-w", "-t", "60", "start")
        return f"postgresql://{ROLE}@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        """Stop the server (fast shutdown) and delete its directory."""
        try:
            if (self.data / "postmaster.pid").exists():
                self._cmd(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast",
                          "-w", "-t", "60", "stop")
        finally:
            shutil.rmtree(self.base, ignore_errors=True)


_lock = threading.Lock()
_users = 0
_cluster: PostgresCluster | None = None
_dsn: str | None = None


@contextmanager
def shared_cluster() -> Iterator[str]:
    """The DSN of the test PostgreSQL; one cluster per process, stopped after its last user."""
    global _users, _cluster, _dsn
    external = os.environ.get("MCHUB_TEST_POSTGRES_DSN")
    if external:
        yield external
        return
    with _lock:
        if _dsn is None:
            cluster = PostgresCluster(ensure_bindir())
            try:
                _dsn = cluster.start()
            except BaseException:
                cluster.stop()
                raise
            _cluster = cluster
        _users += 1
        dsn = _dsn
    try:
        yield dsn
    finally:
        with _lock:
            _users -= 1
            if _users == 0 and _cluster is not None:
                _cluster.stop()
                _cluster, _dsn = None, None


@contextmanager
def fresh_schema(dsn: str) -> Iterator[str]:
    """A new, empty schema; yields a DSN whose ``search_path`` is that schema.

    A URL stays a URL (``…?options=-c%20search_path%3D…``), which ``--db`` accepts.
    """
    import psycopg
    from psycopg.conninfo import make_conninfo

    schema = f"t_{uuid.uuid4().hex[:12]}"
    options = f"-c search_path={schema}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        if "://" in dsn:
            yield f"{dsn}{'&' if '?' in dsn else '?'}options={quote(options)}"
        else:
            yield make_conninfo(dsn, options=options)
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")
