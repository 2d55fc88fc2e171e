"""``mchub kafka up|down|status`` against a real broker started by the CLI itself."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hub.localkafka import LocalKafka, pid_alive
from tests.support import free_port_block


def mchub(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real ``mchub`` entry point in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "hub", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=180,
        check=False,
    )


def java_pids() -> set[int]:
    out = subprocess.run(["pgrep", "-f", "kafka.Kafka"], capture_output=True, text=True)
    return {int(p) for p in out.stdout.split()}


def test_up_twice_leaves_one_broker_and_down_frees_everything(tmp_path: Path) -> None:
    port = free_port_block(2, start=41092)
    data = str(tmp_path / "cluster")
    before = java_pids()

    first = mchub("kafka", "up", "--port", str(port), "--data-dir", data)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == f"127.0.0.1:{port}"
    second = mchub("kafka", "up", "--port", str(port), "--data-dir", data)
    assert second.returncode == 0, second.stderr
    assert "already running" in second.stderr
    assert len(java_pids() - before) == 1  # one broker JVM, not two

    status = mchub("kafka", "status", "--data-dir", data)
    assert status.returncode == 0 and "running" in status.stdout
    spec = LocalKafka(Path(data)).load()
    assert spec is not None and spec.nodes[0].pid is not None
    pid = spec.nodes[0].pid

    down = mchub("kafka", "down", "--data-dir", data)
    assert down.returncode == 0, down.stderr
    assert not pid_alive(pid)
    assert java_pids() - before == set()  # no JVM left behind
    from hub.localkafka import port_in_use

    assert not port_in_use(port) and not port_in_use(port + 1)
    stopped = mchub("kafka", "status", "--data-dir", data)
    assert stopped.returncode == 1 and "stopped" in stopped.stdout


def test_up_on_an_occupied_port_is_a_one_line_error(tmp_path: Path) -> None:
    import socket

    port = free_port_block(2, start=43092)
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", port))
        blocker.listen()
        result = mchub("kafka", "up", "--port", str(port), "--data-dir", str(tmp_path))
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert f"port {port}" in result.stderr and "--port" in result.stderr


@pytest.mark.unit
def test_missing_java_is_a_one_line_error_naming_what_to_install(tmp_path: Path) -> None:
    result = mchub(
        "kafka",
        "up",
        "--data-dir",
        str(tmp_path),
        "--port",
        "45092",
        env={"PATH": str(tmp_path), "MCHUB_CACHE_DIR": str(tmp_path / "cache")},
    )
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "java not found" in result.stderr and "docker compose" in result.stderr


@pytest.mark.unit
def test_unknown_option_is_a_one_line_usage_error() -> None:
    result = mchub("kafka", "up", "--bogus")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "--bogus" in result.stderr and "--help" in result.stderr


@pytest.mark.slow
def test_up_on_a_three_node_cluster_with_one_dead_node_restarts_only_that_node(
    tmp_path: Path,
) -> None:
    import signal

    port = free_port_block(6, start=49092)
    data = str(tmp_path / "k3")
    first = mchub("kafka", "up", "--brokers", "3", "--port", str(port), "--data-dir", data)
    try:
        assert first.returncode == 0, first.stderr
        spec = LocalKafka(Path(data)).load()
        assert spec is not None
        before = {n.node_id: n.pid for n in spec.nodes}
        victim = before[2]
        assert victim is not None
        os.kill(victim, signal.SIGKILL)
        while pid_alive(victim):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(victim, os.WNOHANG)
            time.sleep(0.05)
        assert mchub("kafka", "status", "--data-dir", data).returncode == 1

        again = mchub("kafka", "up", "--brokers", "3", "--port", str(port), "--data-dir", data)
        assert again.returncode == 0, again.stderr
        assert "starting node(s) 2" in again.stderr, again.stderr
        after = LocalKafka(Path(data)).load()
        assert after is not None
        pids = {n.node_id: n.pid for n in after.nodes}
        assert pids[1] == before[1] and pids[3] == before[3]  # the healthy brokers kept running
        assert pids[2] != victim and pid_alive(pids[2])
        assert all(pid_alive(p) for p in pids.values())
        assert mchub("kafka", "status", "--data-dir", data).returncode == 0
    finally:
        mchub("kafka", "down", "--data-dir", data)
