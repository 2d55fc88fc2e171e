"""``register serve`` and ``register openapi`` as processes (``python -m hub register``)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.unit.register.register_support import REPO_ROOT, issued, push_body

CLI = [sys.executable, "-m", "hub", "register"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _serving(db: str, port: int, token: str) -> Iterator[str]:
    env = {**os.environ, "MCHUB_REGISTER_TOKEN": token}
    proc = subprocess.Popen([*CLI, "serve", "--port", str(port), "--db", db], cwd=REPO_ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "register did not start"
            time.sleep(0.1)
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            assert proc.wait(15) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_serve_keeps_state_across_restarts(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/register.db"
    change = issued("cred-1", "ev-1")
    headers = {"Authorization": "Bearer t0ken", "Idempotency-Key": "ev-1"}
    port = _free_port()
    with _serving(db, port, "t0ken") as url:
        assert httpx.put(f"{url}/credentials/cred-1", json=push_body(change),
                         headers=headers).status_code == 201
        assert httpx.put(f"{url}/credentials/cred-1", json=push_body(change),
                         headers={"Idempotency-Key": "ev-1"}).status_code == 401
    with _serving(db, _free_port(), "t0ken") as url:
        again = httpx.put(f"{url}/credentials/cred-1", json=push_body(change), headers=headers)
        assert (again.status_code, again.json()["status"]) == (200, "duplicate")
        assert httpx.get(f"{url}/verify/cred-1").json()["valid"] is True


def test_openapi_command_writes_and_checks(tmp_path: Path) -> None:
    target = tmp_path / "register.json"
    stale = subprocess.run([*CLI, "openapi", "--out", str(target), "--check"], cwd=REPO_ROOT,
                           capture_output=True, text=True, check=False)
    assert (stale.returncode, stale.stdout.strip().endswith("stale")) == (1, True)
    written = subprocess.run([*CLI, "openapi", "--out", str(target)], cwd=REPO_ROOT,
                             capture_output=True, text=True, check=True)
    assert written.stdout.strip().endswith("written")
    assert target.read_text(encoding="utf-8") == (
        REPO_ROOT / "docs" / "openapi" / "register.json").read_text(encoding="utf-8")
    current = subprocess.run([*CLI, "openapi", "--out", str(target), "--check"],
                             cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    assert current.returncode == 0


def test_serve_refuses_an_unknown_database_url() -> None:
    proc = subprocess.run([*CLI, "serve", "--db", "mysql://nope", "--port", "0"],
                          cwd=REPO_ROOT, capture_output=True, text=True, check=False,
                          timeout=60)
    assert proc.returncode == 1
    assert "unsupported register database URL" in proc.stderr
