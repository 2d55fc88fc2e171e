"""A real Apache Kafka cluster on loopback, fetched from Maven Central and run by the hub.

No Docker engine is needed: Maven resolves ``org.apache.kafka:kafka_2.13`` and a Log4j 2
backend (``pom.xml`` beside this module, package data) into a cache outside the repository
(``~/.cache/mchub/kafka-<version>/libs``). Each node runs in KRaft combined mode
(broker + controller) on 127.0.0.1; internal topics are sized to the cluster so that
transactions work on a single broker.

Layout of a cluster directory (``--data-dir``, default ``var/kafka``)::

    cluster.json        what runs: version, cluster id, nodes, ports, pids
    node-<id>/          KRaft log dirs of node <id>
    node-<id>.properties, node-<id>.log

Ports: node *i* (0-based) of an *N*-node cluster listens for clients on ``port + i`` and
for the controller quorum on ``port + N + i`` (single node: 9092 and 9093).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from hub.errors import BrokerUnavailable, ConfigurationError
from hub.localkafka.security import (
    BUILT_IN,
    client_security,
    ensure_passwords,
    format_scram_arguments,
    listener_properties,
)
from hub.resources import package_path
from hub.settings import KAFKA_VERSION, default_cache_dir

DOCKER_HINT = "or run Kafka with Docker instead: `docker compose up kafka` (see README)"


@dataclass
class NodeSpec:
    """One KRaft node (broker + controller) of a local cluster."""

    node_id: int
    port: int
    controller_port: int
    pid: int | None = None


@dataclass
class ClusterSpec:
    """A local cluster as recorded in ``cluster.json``."""

    version: str
    cluster_id: str
    data_dir: str
    nodes: list[NodeSpec] = field(default_factory=list)
    #: SASL/SCRAM and ACLs (hub.localkafka.security); passwords in credentials.json
    auth: bool = False

    @property
    def bootstrap(self) -> str:
        """Bootstrap servers string for clients."""
        return ",".join(f"127.0.0.1:{n.port}" for n in self.nodes)


def _require_free_ports(nodes: list[NodeSpec], advice: str) -> None:
    """A ConfigurationError naming the first client or controller port of ``nodes`` that
    another process holds on 127.0.0.1 (``advice`` says what to do)."""
    for node in nodes:
        for port in (node.port, node.controller_port):
            if port_in_use(port):
                raise ConfigurationError(
                    f"port {port} of node {node.node_id} on 127.0.0.1 is already in use by "
                    f"another process; {advice}")


def port_in_use(port: int) -> bool:
    """True when a process accepts connections on 127.0.0.1:``port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.3)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def pid_alive(pid: int | None) -> bool:
    """True when a process with ``pid`` exists and is not a zombie."""
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child still answers kill(0); treat it as dead
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return False
    return True


def require_tools(*tools: str) -> None:
    """Fail with a message naming what to install when Java or Maven is missing."""
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        raise ConfigurationError(
            f"{' and '.join(missing)} not found on PATH: install a Java 17+ JDK and Apache "
            f"Maven (Debian: apt-get install openjdk-17-jdk-headless maven), {DOCKER_HINT}"
        )


def maven_copy_dependencies(
    pom: Path, output: Path, *options: str
) -> subprocess.CompletedProcess[str]:
    """Copy the runtime classpath of ``pom`` into a fresh ``output`` directory with Maven.

    ``options`` are extra Maven arguments (``-Dname=value``). Returns Maven's result (its
    output captured); the caller checks it and moves ``output`` into place.
    """
    shutil.rmtree(output, ignore_errors=True)
    output.mkdir(parents=True)
    cmd = [
        "mvn", "-q", "-B", "-f", str(pom), *options,
        "dependency:copy-dependencies", f"-DoutputDirectory={output}", "-DincludeScope=runtime",
    ]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


def kafka_command_files() -> tuple[Path, Path]:
    """The Maven project that resolves the broker and its Log4j 2 configuration (package
    data beside this module)."""
    return (package_path("hub.localkafka", "pom.xml"),
            package_path("hub.localkafka", "log4j2.properties"))


def resolve_distribution(version: str = KAFKA_VERSION, cache_dir: Path | None = None) -> Path:
    """Return the directory of the broker's jars, fetching them with Maven on first use."""
    libs = (cache_dir or default_cache_dir()) / f"kafka-{version}" / "libs"
    marker = libs / ".complete"
    if marker.exists():
        return libs
    require_tools("java", "mvn")
    pom, _ = kafka_command_files()
    staging = libs.with_name("libs.partial")
    result = maven_copy_dependencies(pom, staging, f"-Dkafka.version={version}")
    if result.returncode != 0 or not any(staging.glob(f"kafka_2.13-{version}.jar")):
        tail = (result.stdout + result.stderr).strip().splitlines()[-5:]
        raise ConfigurationError(
            f"Maven could not fetch Apache Kafka {version}: {' | '.join(tail)}; "
            f"check access to Maven Central, {DOCKER_HINT}"
        )
    shutil.rmtree(libs, ignore_errors=True)
    staging.rename(libs)
    marker.write_text(version)
    return libs


def node_properties(
    spec: ClusterSpec, node: NodeSpec, passwords: dict[str, str] | None = None
) -> str:
    """The ``server.properties`` of one combined broker+controller node (authenticated,
    :func:`~hub.localkafka.security.listener_properties`, when ``passwords`` are given)."""
    size = len(spec.nodes)
    voters = ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in spec.nodes)
    replication = min(3, size)
    min_isr = 1 if size == 1 else 2
    log_dir = Path(spec.data_dir) / f"node-{node.node_id}"
    lines = {
        "process.roles": "broker,controller",
        "node.id": str(node.node_id),
        "controller.quorum.voters": voters,
        "listeners": f"PLAINTEXT://127.0.0.1:{node.port},CONTROLLER://127.0.0.1:{node.controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{node.port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(log_dir),
        "num.partitions": "1",
        "default.replication.factor": str(replication),
        "auto.create.topics.enable": "false",
        # internal topics sized to the cluster: transactions need these on one broker
        "offsets.topic.replication.factor": str(replication),
        "offsets.topic.num.partitions": "10",
        "transaction.state.log.replication.factor": str(replication),
        "transaction.state.log.min.isr": str(min_isr),
        "transaction.state.log.num.partitions": "10",
        "share.coordinator.state.topic.replication.factor": str(replication),
        "share.coordinator.state.topic.min.isr": str(min_isr),
        "group.initial.rebalance.delay.ms": "0",
        "log.flush.interval.messages": "9223372036854775807",
    }
    if passwords is not None:
        lines.update(listener_properties(node.port, node.controller_port, passwords))
    return "".join(f"{key}={value}\n" for key, value in lines.items())


class LocalKafka:
    """Start, stop and inspect a local KRaft cluster rooted at ``data_dir``."""

    def __init__(
        self, data_dir: Path, *, cache_dir: Path | None = None, version: str = KAFKA_VERSION
    ) -> None:
        self.data_dir = data_dir.resolve()
        self.cache_dir = cache_dir
        self.version = version
        self.state_file = self.data_dir / "cluster.json"
        #: passwords of the principals of an authenticated cluster (hub.localkafka.security)
        self.credentials_file = self.data_dir / "credentials.json"

    def passwords(self, spec: ClusterSpec | None = None) -> dict[str, str] | None:
        """The principals' passwords of an authenticated cluster (``None``: no auth)."""
        spec = spec or self.load()
        if spec is None or not spec.auth:
            return None
        return ensure_passwords(self.credentials_file, spec.bootstrap, BUILT_IN)

    def client_security(self, spec: ClusterSpec | None = None) -> dict[str, object]:
        """aiokafka keyword arguments of an admin client of this cluster."""
        passwords = self.passwords(spec)
        return {} if passwords is None else client_security(passwords)

    # -- state ---------------------------------------------------------------
    def load(self) -> ClusterSpec | None:
        """The recorded cluster, or ``None`` when none was started here."""
        if not self.state_file.exists():
            return None
        raw = json.loads(self.state_file.read_text())
        nodes = [NodeSpec(**n) for n in raw.pop("nodes")]
        return ClusterSpec(nodes=nodes, **raw)

    def _save(self, spec: ClusterSpec) -> None:
        self.state_file.write_text(json.dumps(asdict(spec), indent=2))

    def running(self) -> ClusterSpec | None:
        """The recorded cluster when every node's process is alive, else ``None``."""
        spec = self.load()
        if spec and spec.nodes and all(pid_alive(n.pid) for n in spec.nodes):
            return spec
        return None

    # -- lifecycle -----------------------------------------------------------
    def up(
        self,
        *,
        brokers: int = 1,
        port: int = 9092,
        auth: bool = False,
        timeout: float = 90.0,
        progress: Callable[[str], None] = lambda _msg: None,
    ) -> tuple[ClusterSpec, bool]:
        """Start the cluster; returns ``(spec, started)`` — ``started`` is False if it ran.

        ``auth``: SASL/SCRAM with ACLs (:mod:`hub.localkafka.security`); a cluster formed
        without it is formed anew (its data is removed)."""
        if brokers < 1:
            raise ConfigurationError("--brokers must be at least 1")
        current = self.running()
        if current is not None:
            if current.auth != auth:
                raise ConfigurationError(
                    f"a cluster {'with' if current.auth else 'without'} authentication "
                    f"already runs from {self.data_dir}; run `mchub kafka down` first")
            if len(current.nodes) != brokers or current.nodes[0].port != port:
                raise ConfigurationError(
                    f"a {len(current.nodes)}-broker cluster already runs from {self.data_dir} "
                    f"on port {current.nodes[0].port}; run `mchub kafka down` first"
                )
            return current, False
        previous = self.load()
        partly = previous is not None and any(pid_alive(n.pid) for n in previous.nodes)
        if partly and previous is not None:
            if len(previous.nodes) != brokers or previous.nodes[0].port != port:
                raise ConfigurationError(
                    f"a {len(previous.nodes)}-broker cluster partly runs from {self.data_dir} "
                    f"on port {previous.nodes[0].port}; run `mchub kafka down` first"
                )
            # the healthy nodes keep running (and serving): start only the ones that are down
            down = [n.node_id for n in previous.nodes if not pid_alive(n.pid)]
            return self.start_nodes(down, timeout=timeout, progress=progress), True
        if previous is not None and any(n.pid for n in previous.nodes):
            progress("removing stale pid records of a cluster that is no longer running")
            self._kill_nodes(previous)
        nodes = [NodeSpec(i + 1, port + i, port + brokers + i) for i in range(brokers)]
        _require_free_ports(nodes, "stop it or choose another base port with --port")
        require_tools("java")
        libs = resolve_distribution(self.version, self.cache_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        same_shape = previous is not None and previous.auth == auth and [
            (n.port, n.controller_port) for n in previous.nodes
        ] == [(n.port, n.controller_port) for n in nodes]
        cluster_id = previous.cluster_id if previous and same_shape else _new_cluster_id()
        spec = ClusterSpec(self.version, cluster_id, str(self.data_dir), nodes, auth=auth)
        if not same_shape:
            for node in nodes:
                shutil.rmtree(self.data_dir / f"node-{node.node_id}", ignore_errors=True)
        progress(f"starting Apache Kafka {self.version}, {brokers} node(s) in KRaft mode"
                 + (" with SASL/SCRAM and ACLs" if auth else ""))
        for node in nodes:
            self._format(spec, node, libs)
        for node in nodes:
            node.pid = self._launch(node, libs)
        self._save(spec)
        try:
            wait_until_ready(
                spec.bootstrap,
                brokers,
                timeout=timeout,
                alive=lambda: all(pid_alive(n.pid) for n in nodes),
                security=self.client_security(spec),
            )
        except BrokerUnavailable as exc:
            logs = [self.data_dir / f"node-{n.node_id}.log" for n in nodes]
            self._kill_nodes(spec)
            raise BrokerUnavailable(f"{exc}; see {', '.join(str(p) for p in logs)}") from exc
        return spec, True

    def start_nodes(
        self,
        node_ids: list[int],
        *,
        timeout: float = 90.0,
        progress: Callable[[str], None] = lambda _msg: None,
    ) -> ClusterSpec:
        """(Re)start the stopped nodes ``node_ids`` of the recorded cluster, leaving the
        running ones alone; waits until every node is registered again."""
        spec = self.load()
        if spec is None:
            raise ConfigurationError(f"no cluster recorded in {self.data_dir}")
        nodes = [n for n in spec.nodes if n.node_id in node_ids and not pid_alive(n.pid)]
        if nodes:
            keep = [str(n.node_id) for n in spec.nodes if n not in nodes]
            progress(
                f"starting node(s) {', '.join(str(n.node_id) for n in nodes)} of the cluster"
                + (f" (node(s) {', '.join(keep)} keep running)" if keep else "")
            )
            libs = resolve_distribution(self.version, self.cache_dir)
            _require_free_ports(nodes, "stop it or run `mchub kafka down` first")
            for node in nodes:
                self._format(spec, node, libs)
                node.pid = self._launch(node, libs)
            self._save(spec)
        wait_until_ready(
            spec.bootstrap,
            len(spec.nodes),
            timeout=timeout,
            alive=lambda: all(pid_alive(n.pid) for n in spec.nodes),
            security=self.client_security(spec),
        )
        return spec

    def _format(self, spec: ClusterSpec, node: NodeSpec, libs: Path) -> None:
        props = self.data_dir / f"node-{node.node_id}.properties"
        passwords = self.passwords(spec)
        props.write_text(node_properties(spec, node, passwords))
        props.chmod(0o600)  # holds the admin and controller passwords when authenticated
        if (self.data_dir / f"node-{node.node_id}" / "meta.properties").exists():
            return
        cmd = [
            *self._java(libs, node),
            "kafka.tools.StorageTool",
            "format",
            f"--cluster-id={spec.cluster_id}",
            f"--config={props}",
            "--ignore-formatted",
            *([] if passwords is None else format_scram_arguments(passwords)),
        ]
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise ConfigurationError(f"formatting KRaft storage failed: {result.stderr.strip()}")

    def _java(self, libs: Path, node: NodeSpec) -> list[str]:
        log_file = self.data_dir / f"node-{node.node_id}.log"
        return [
            "java",
            "-Xms128m",
            "-Xmx768m",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={kafka_command_files()[1]}",
            f"-Dmchub.log.file={log_file}",
            "-cp",
            f"{libs}/*",
        ]

    def _launch(self, node: NodeSpec, libs: Path) -> int:
        props = self.data_dir / f"node-{node.node_id}.properties"
        out = (self.data_dir / f"node-{node.node_id}.out").open("ab")
        proc = subprocess.Popen(
            [*self._java(libs, node), "kafka.Kafka", str(props)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        out.close()
        return proc.pid

    def down(self, *, timeout: float = 30.0) -> int:
        """Stop every node (SIGTERM, then SIGKILL after ``timeout``); returns nodes stopped."""
        spec = self.load()
        if spec is None:
            return 0
        stopped = self._kill_nodes(spec, timeout=timeout)
        spec.nodes = [NodeSpec(n.node_id, n.port, n.controller_port) for n in spec.nodes]
        self._save(spec)
        return stopped

    def stop_node(self, node_id: int, *, timeout: float = 30.0) -> None:
        """Stop one node (used by fault tests); the rest keep running."""
        spec = self.load()
        if spec is None:
            raise ConfigurationError(f"no cluster recorded in {self.data_dir}")
        for node in spec.nodes:
            if node.node_id == node_id:
                terminate(node.pid, timeout)
                node.pid = None
        self._save(spec)

    def _kill_nodes(self, spec: ClusterSpec, *, timeout: float = 30.0) -> int:
        stopped = 0
        for node in spec.nodes:
            if pid_alive(node.pid):
                terminate(node.pid, timeout)
                stopped += 1
        for node in spec.nodes:
            deadline = time.monotonic() + timeout
            while port_in_use(node.port) and time.monotonic() < deadline:
                time.sleep(0.1)
        return stopped


def terminate(pid: int | None, timeout: float) -> None:
    """Stop process ``pid``: SIGTERM, then SIGKILL after ``timeout`` seconds."""
    if pid is None or not pid_alive(pid):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while pid_alive(pid) and time.monotonic() < deadline:
        _reap(pid)
        time.sleep(0.1)
    if pid_alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        while pid_alive(pid):
            _reap(pid)
            time.sleep(0.05)
    _reap(pid)


def _reap(pid: int) -> None:
    """Collect the exit status when the broker is our own child (no zombie left)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def _new_cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, URL-safe base64 without padding."""
    import base64

    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def wait_until_ready(
    bootstrap: str, brokers: int, *, timeout: float = 60.0,
    alive: Callable[[], bool] = lambda: True, security: dict[str, object] | None = None,
) -> None:
    """Block until the cluster answers metadata requests listing ``brokers`` brokers
    (``security``: aiokafka authentication arguments of an authenticated cluster)."""
    import logging

    deadline = time.monotonic() + timeout
    client_log = logging.getLogger("aiokafka")
    previous_level = client_log.level
    client_log.setLevel(logging.CRITICAL)  # refused connections are expected while starting
    try:
        _poll_until_ready(bootstrap, brokers, deadline, alive, security or {})
    finally:
        client_log.setLevel(previous_level)


def _poll_until_ready(
    bootstrap: str, brokers: int, deadline: float, alive: Callable[[], bool],
    security: dict[str, object],
) -> None:
    timeout = deadline - time.monotonic()
    last_error = "no answer"
    while time.monotonic() < deadline:
        if not alive():
            raise BrokerUnavailable("the broker process exited during start-up")
        try:
            seen = asyncio.run(_count_brokers(bootstrap, security))
            if seen >= brokers:
                return
            last_error = f"{seen} of {brokers} brokers registered"
        except Exception as exc:  # noqa: BLE001 - any failure means "not ready yet"
            last_error = f"{type(exc).__name__}: {exc}"
        time.sleep(0.5)
    raise BrokerUnavailable(f"Kafka at {bootstrap} not ready after {timeout:.0f}s ({last_error})")


async def _count_brokers(bootstrap: str, security: dict[str, object]) -> int:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, request_timeout_ms=3000, **security
    )
    await admin.start()
    try:
        cluster = await admin.describe_cluster()
        return len(cluster.get("brokers", []))
    finally:
        await admin.close()
