"""A stock Kafka Connect worker with Debezium's JDBC sink as a test harness.

:func:`build_connect` resolves ``tools/kafka-connect/pom.xml`` (``connect-runtime`` and
``connect-json`` of the broker's version, ``io.debezium:debezium-connector-jdbc``, the
PostgreSQL driver, a Log4j 2 backend; all from Maven Central) with the Maven fetcher the
local Kafka uses (:func:`hub.localkafka.maven_copy_dependencies`) into
``~/.cache/mchub/kafka-connect-<hash>/libs``; ``<hash>`` is the SHA-256 of the pom, so a
change re-resolves and an unchanged checkout reuses the cache across runs.

:func:`running_connect` runs ``ConnectStandalone`` from that classpath on a free loopback
REST port: JsonConverter with schemas for keys and values (records are
``{"schema": …, "payload": …}`` envelopes; a tombstone is a record whose value is null),
offsets in a file of ``work_dir``, plugins found through their ServiceLoader manifests
(everything is on the one classpath, no ``plugin.path``). It waits until every connector
and each of its tasks is ``RUNNING`` and stops the worker when the block ends; a failure
message ends with the tail of the worker's log (``work_dir/connect.log``).
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

import httpx

from hub.errors import ConfigurationError
from hub.localkafka import maven_copy_dependencies, pid_alive, require_tools
from hub.settings import KAFKA_VERSION, default_cache_dir
from tests.support import free_port_block

TOOL_DIR: Final = Path(__file__).resolve().parent.parent / "tools" / "kafka-connect"
LOG_CONFIG: Final = TOOL_DIR / "log4j2.properties"
MAIN_CLASS: Final = "org.apache.kafka.connect.cli.ConnectStandalone"
#: the connector's version in tools/kafka-connect/pom.xml (3.6.1.Final is not on Central)
DEBEZIUM_VERSION: Final = "3.6.0.Final"
JDBC_SINK_CLASS: Final = "io.debezium.connector.jdbc.JdbcSinkConnector"
JSON_CONVERTER: Final = "org.apache.kafka.connect.json.JsonConverter"
#: client properties copied to the worker and to its ``producer.``/``consumer.``/``admin.``
#: clients: security.protocol, sasl.*, ssl.*
SECURITY_PREFIXES: Final = ("security.", "sasl.", "ssl.")


@dataclass(frozen=True)
class ConnectDistribution:
    """A resolved worker: the directory of its jars."""

    home: Path

    @property
    def libs(self) -> Path:
        return self.home / "libs"

    @property
    def classpath(self) -> str:
        return f"{self.libs}/*"


def _content_hash() -> str:
    """What the cache depends on: the pom (the log configuration is read from the checkout)."""
    pom = TOOL_DIR / "pom.xml"
    return hashlib.sha256(pom.name.encode() + b"\0" + pom.read_bytes()).hexdigest()[:16]


def build_connect(cache_dir: Path | None = None) -> ConnectDistribution:
    """The worker's classpath, resolved by Maven on first use into the cache."""
    home = (cache_dir or default_cache_dir()) / f"kafka-connect-{_content_hash()}"
    if (home / ".complete").exists():
        return ConnectDistribution(home)
    require_tools("java", "mvn")
    staging = home.with_name(home.name + ".partial")
    result = maven_copy_dependencies(TOOL_DIR / "pom.xml", staging / "libs")
    wanted = (f"connect-runtime-{KAFKA_VERSION}.jar",
              f"debezium-connector-jdbc-{DEBEZIUM_VERSION}.jar")
    if result.returncode != 0 or not all((staging / "libs" / jar).exists() for jar in wanted):
        tail = (result.stdout + result.stderr).strip().splitlines()[-5:]
        raise ConfigurationError(
            f"Maven could not fetch Kafka Connect {KAFKA_VERSION} with Debezium's JDBC sink "
            f"{DEBEZIUM_VERSION}: {' | '.join(tail)}")
    shutil.rmtree(home, ignore_errors=True)
    staging.rename(home)
    (home / ".complete").write_text(f"{KAFKA_VERSION} {DEBEZIUM_VERSION}\n")
    return ConnectDistribution(home)


def wait_until(
    predicate: Callable[[], bool], timeout: float, *, interval: float = 0.25,
    message: Callable[[], str] | str = "condition not reached",
) -> None:
    """Poll ``predicate`` (synchronously) until it holds; AssertionError after ``timeout``
    seconds, with ``message`` (a string or a function giving one, called on failure)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            text = message() if callable(message) else message
            raise AssertionError(f"{text} (after {timeout:.0f}s)")
        time.sleep(interval)


def security_properties(settings: Any) -> dict[str, str]:
    """The Java client security properties of :class:`hub.settings.Settings`' Kafka
    principal (none for PLAINTEXT), for ``running_connect(client_security=...)``."""
    from hub.localkafka.security import java_client_properties

    return {key: value for key, value in java_client_properties(settings).items()
            if key.startswith(SECURITY_PREFIXES)}


def postgres_jdbc(dsn: str) -> dict[str, str]:
    """Debezium JDBC sink properties (``connection.url``, ``connection.username``,
    ``connection.password``) of a libpq DSN or URL, e.g. one of
    ``tests.integration.register.postgres_cluster.fresh_schema`` (its ``options``, the
    schema's ``search_path``, are passed on to the driver)."""
    from psycopg.conninfo import conninfo_to_dict

    info = conninfo_to_dict(dsn)
    host = str(info.get("host") or "127.0.0.1")
    url = f"jdbc:postgresql://{host}:{info.get('port') or 5432}/{info.get('dbname') or 'postgres'}"
    if info.get("options"):
        url += f"?options={quote(str(info['options']))}"
    return {"connection.url": url, "connection.username": str(info.get("user") or ""),
            "connection.password": str(info.get("password") or "")}


def worker_properties(
    bootstrap: str, port: int, work_dir: Path, client_security: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The standalone worker's ``worker.properties``: JsonConverter with schemas for keys
    and values, file offsets in ``work_dir``, REST on ``127.0.0.1:port``, plugins found by
    their ServiceLoader manifests on the classpath, ``client_security`` (Java client
    properties: security.protocol, sasl.mechanism, sasl.jaas.config, ssl.*) for the worker
    and its producer, consumer and admin clients."""
    props = {
        "bootstrap.servers": bootstrap,
        "key.converter": JSON_CONVERTER,
        "key.converter.schemas.enable": "true",
        "value.converter": JSON_CONVERTER,
        "value.converter.schemas.enable": "true",
        "offset.storage.file.filename": str(work_dir / "connect.offsets"),
        "offset.flush.interval.ms": "1000",
        "listeners": f"http://127.0.0.1:{port}",
        "rest.advertised.host.name": "127.0.0.1",
        "rest.advertised.port": str(port),
        # every plugin is on the classpath and has a ServiceLoader manifest (KIP-898):
        # no reflective scan of the ~90 jars
        "plugin.discovery": "service_load",
        # a sink task starts reading at the beginning of topics new to its group
        "consumer.auto.offset.reset": "earliest",
    }
    for key, value in (client_security or {}).items():
        if key == "bootstrap.servers":
            continue
        for prefix in ("", "producer.", "consumer.", "admin."):
            props[prefix + key] = value
    return props


def _write_properties(path: Path, props: Mapping[str, str]) -> None:
    def escape(text: str) -> str:
        return text.replace("\\", "\\\\").replace("\n", "\\n")

    path.write_text("".join(f"{escape(k)}={escape(v)}\n" for k, v in props.items()))
    path.chmod(0o600)  # may hold passwords


@dataclass(frozen=True)
class RunningConnect:
    """A started worker: its REST base URL, log file and process."""

    url: str
    log: Path
    work_dir: Path
    process: subprocess.Popen[bytes]

    def status(self, name: str) -> dict[str, Any]:
        """``GET /connectors/<name>/status`` (connector and task states, traces)."""
        response = httpx.get(f"{self.url}/connectors/{name}/status", timeout=5)
        response.raise_for_status()
        status: dict[str, Any] = response.json()
        return status

    def log_tail(self, lines: int = 80) -> str:
        """The last ``lines`` of the worker's log and of its stdout/stderr."""
        parts = []
        for path in (self.log, self.work_dir / "connect.out"):
            if path.exists():
                text = path.read_text(errors="replace").splitlines()[-lines:]
                parts.append(f"--- {path} ---\n" + "\n".join(text))
        return "\n".join(parts)

    def fail(self, message: str) -> AssertionError:
        """An AssertionError carrying ``message`` and the tail of the worker's log."""
        return AssertionError(f"{message}\n{self.log_tail()}")


def _states(status: Mapping[str, Any]) -> tuple[str, list[str]]:
    connector = str(status.get("connector", {}).get("state", "?"))
    return connector, [str(task.get("state", "?")) for task in status.get("tasks", [])]


def _launch(dist: ConnectDistribution, work_dir: Path, port: int,
            worker: Path, connector_files: Sequence[Path]) -> RunningConnect:
    log = work_dir / "connect.log"
    out = (work_dir / "connect.out").open("ab")
    try:
        process = subprocess.Popen(
            ["java", "-Xms64m", "-Xmx512m", "-XX:+UseG1GC", "-Djava.awt.headless=true",
             f"-Dlog4j2.configurationFile={LOG_CONFIG}",
             f"-Dmchub.log.file={log}", "-cp", dist.classpath, MAIN_CLASS,
             str(worker), *map(str, connector_files)],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, cwd=work_dir,
        )
    finally:
        out.close()
    return RunningConnect(f"http://127.0.0.1:{port}", log, work_dir, process)


def _stop(worker: RunningConnect, timeout: float = 30.0) -> None:
    process = worker.process
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert not pid_alive(process.pid)


def _wait_running(worker: RunningConnect, names: Sequence[str], deadline: float) -> None:
    pending = list(names)
    last = "the REST API did not answer"
    while pending:
        if worker.process.poll() is not None:
            raise worker.fail(f"the Connect worker exited ({worker.process.returncode}) "
                              f"during start-up; {last}")
        if time.monotonic() > deadline:
            raise worker.fail(f"connectors not RUNNING in time: {last}")
        name = pending[0]
        try:
            status = worker.status(name)
        except httpx.HTTPError as exc:
            last = f"{name}: {type(exc).__name__}: {exc}"
            time.sleep(0.5)
            continue
        connector, tasks = _states(status)
        last = f"{name}: connector {connector}, tasks {tasks}"
        if "FAILED" in (connector, *tasks):
            traces = [status.get("connector", {}).get("trace"),
                      *(task.get("trace") for task in status.get("tasks", []))]
            detail = "\n".join(str(t) for t in traces if t)
            raise worker.fail(f"connector {name} FAILED: {last}\n{detail}")
        if connector == "RUNNING" and tasks and all(state == "RUNNING" for state in tasks):
            pending.pop(0)
            continue
        time.sleep(0.25)


@contextmanager
def running_connect(
    bootstrap: str,
    connectors: list[dict[str, str]],
    work_dir: Path,
    *,
    client_security: dict[str, str] | None = None,
    timeout: float = 120.0,
    cache_dir: Path | None = None,
) -> Iterator[RunningConnect]:
    """A standalone Connect worker of the broker at ``bootstrap`` running ``connectors``
    (each a connector's properties with ``name`` and ``connector.class``), its files in
    ``work_dir``; yields once every connector and task is RUNNING (at most ``timeout``
    seconds) and stops the worker when the block ends.

    ``client_security``: Java client properties (``security.protocol``,
    ``sasl.mechanism``, ``sasl.jaas.config``, ``ssl.*``; :func:`security_properties`
    makes them from Settings) applied to the worker and its producer, consumer and
    admin clients.
    """
    names = [connector["name"] for connector in connectors]
    if len(set(names)) != len(names):
        raise ValueError(f"connector names must be unique: {names}")
    dist = build_connect(cache_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    connector_files = []
    for connector in connectors:
        path = work_dir / f"connector-{connector['name']}.properties"
        _write_properties(path, connector)
        connector_files.append(path)
    deadline = time.monotonic() + timeout
    for attempt in range(3):  # a port found free may be taken before the worker binds it
        port = free_port_block(1)
        worker_file = work_dir / "worker.properties"
        _write_properties(worker_file, worker_properties(bootstrap, port, work_dir,
                                                         client_security))
        worker = _launch(dist, work_dir, port, worker_file, connector_files)
        try:
            _wait_running(worker, names, deadline)
            break
        except AssertionError:
            _stop(worker)
            lost_port = "Address already in use" in worker.log_tail(400)
            if not lost_port or attempt == 2:
                raise
            with contextlib.suppress(OSError):
                worker.log.rename(worker.log.with_suffix(f".log.{attempt}"))
    try:
        yield worker
    finally:
        _stop(worker)
