"""A real Confluent-compatible schema registry on loopback, built from Maven Central and run
by the hub (Apicurio Registry; its Confluent API is ``/apis/ccompat/v7``).

No Docker engine is needed: Maven resolves ``io.apicurio:apicurio-registry-app`` and the
Quarkus plugin builds it into a runnable jar (``pom.xml`` beside this module, package
data, says which version and why, and the workarounds it needs) in a cache outside the
repository: ``~/.cache/mchub/apicurio-registry-<version>/app`` (``apicurio-registry-
runner.jar`` and ``lib/``; ``.complete`` holds the hash of the pom it was built from, so a
changed pom rebuilds). Maven's own downloads go to its local repository (``~/.m2``).

The registry listens on 127.0.0.1 only and keeps its schemas in an H2 database file under
the data directory, so schema ids survive ``down``/``up``. The Confluent API answers a
registration with the schema's **content id** (the same schema under two subjects has one
id; Apicurio's ``registry.ccompat.legacy-id-mode.enabled`` is left off), which is the
4-byte id of the Confluent framing (magic byte 0, id, Avro body).

Layout of a registry directory (``--data-dir``, default ``$MCHUB_DATA_DIR/registry``)::

    registry.json       what runs: {"version", "port", "data_dir", "pid"}
    registry.log        the registry's console log (rewritten at each start)
    h2/                 the H2 database (registry.mv.db)
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final

import httpx

from hub.errors import ConfigurationError
from hub.localkafka import pid_alive, port_in_use, require_tools, terminate
from hub.resources import package_path
from hub.settings import default_cache_dir

#: the Apicurio Registry release the hub builds and runs (see pom.xml for why this one)
REGISTRY_VERSION: Final[str] = "2.4.2.Final"
#: where Apicurio serves the Confluent Schema Registry REST API
CCOMPAT_PATH: Final = "/apis/ccompat/v7"
RUNNER_JAR: Final = "apicurio-registry-runner.jar"
#: small: the machine also runs Kafka and the tests; C1 only and the serial collector start
#: faster and use less CPU than the defaults, which a schema registry's load never needs
JVM_OPTIONS: Final = (
    "-Xms64m", "-Xmx512m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
    "-Djava.awt.headless=true",
)  # fmt: skip


@dataclass
class RegistrySpec:
    """A local registry as recorded in ``registry.json``."""

    version: str
    port: int
    data_dir: str
    pid: int | None = None

    @property
    def url(self) -> str:
        """The Confluent-compatible base URL (the value for MCHUB_SCHEMA_REGISTRY_URL)."""
        return f"http://127.0.0.1:{self.port}{CCOMPAT_PATH}"


def registry_pom() -> Path:
    """The Maven project that builds the registry (package data beside this module)."""
    return package_path("hub.localregistry", "pom.xml")


#: Maven's closing advice, the same after every failure: left out of our messages
_MAVEN_BOILERPLATE: Final = re.compile(
    r"^(\[ERROR\]\s*)?(|To see the full stack trace.*|Re-run Maven using.*|For more information"
    r" about the errors.*|\[Help \d+\] http.*)$")
_ANSI: Final = re.compile(r"\x1b\[[0-9;]*m")


def _tail(text: str, lines: int) -> str:
    """The last ``lines`` informative lines of a tool's output, joined on one line."""
    kept = [line.strip() for line in _ANSI.sub("", text).splitlines()]
    kept = [line for line in kept if not _MAVEN_BOILERPLATE.match(line)]
    return " | ".join(kept[-lines:])


def build_registry(
    cache_dir: Path | None = None,
    progress: Callable[[str], None] = lambda _msg: None,
    *,
    version: str = REGISTRY_VERSION,
) -> Path:
    """The directory of the runnable registry (``apicurio-registry-runner.jar`` and
    ``lib/``), built with Maven on first use and reused afterwards."""
    home = (cache_dir or default_cache_dir()) / f"apicurio-registry-{version}"
    app = home / "app"
    marker = app / ".complete"
    pom = registry_pom()
    digest = hashlib.sha256(pom.read_bytes()).hexdigest()[:16]
    if marker.exists() and marker.read_text().strip() == digest:
        return app
    require_tools("java", "mvn")
    progress(f"building Apicurio Registry {version} from Maven Central into {app} "
             "(first use: about 130 MB, a few minutes)")
    build = home / "build"
    shutil.rmtree(build, ignore_errors=True)
    build.mkdir(parents=True)
    shutil.copyfile(pom, build / "pom.xml")
    cmd = ["mvn", "-q", "-B", "-f", str(build / "pom.xml"), f"-Dapicurio.version={version}",
           "package"]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    built = build / "target"
    if result.returncode != 0 or not (built / RUNNER_JAR).exists():
        raise ConfigurationError(
            f"Maven could not build Apicurio Registry {version}: "
            f"{_tail(result.stdout + result.stderr, 5)}; check access to Maven Central "
            f"(retry `mchub schema-registry up`; `mvn -f {build / 'pom.xml'} package` shows "
            f"the whole output), or point MCHUB_SCHEMA_REGISTRY_URL at another "
            f"Confluent-compatible registry")
    shutil.rmtree(app, ignore_errors=True)
    built.rename(app)
    shutil.rmtree(build, ignore_errors=True)
    marker.write_text(digest)
    return app


class LocalRegistry:
    """Start, stop and inspect a local schema registry rooted at ``data_dir``."""

    def __init__(self, data_dir: Path, cache_dir: Path | None = None) -> None:
        self.data_dir = data_dir.resolve()
        self.cache_dir = cache_dir
        self.version = REGISTRY_VERSION
        self.state_file = self.data_dir / "registry.json"
        self.log_file = self.data_dir / "registry.log"

    # -- state ---------------------------------------------------------------
    def load(self) -> RegistrySpec | None:
        """The recorded registry, running or not; ``None`` when none was started here."""
        if not self.state_file.exists():
            return None
        return RegistrySpec(**json.loads(self.state_file.read_text()))

    def _save(self, spec: RegistrySpec) -> None:
        self.state_file.write_text(json.dumps(asdict(spec), indent=2))

    def status(self) -> RegistrySpec | None:
        """The running registry, or ``None``."""
        spec = self.load()
        return spec if spec is not None and pid_alive(spec.pid) else None

    # -- lifecycle -----------------------------------------------------------
    def up(
        self,
        *,
        port: int = 8085,
        timeout: float = 120.0,
        progress: Callable[[str], None] = lambda _msg: None,
    ) -> tuple[RegistrySpec, bool]:
        """Start the registry on ``port``; returns ``(spec, started)`` — ``started`` is
        False when it already ran. Waits until ``GET <url>/subjects`` answers 200."""
        current = self.status()
        if current is not None:
            if current.port != port:
                raise ConfigurationError(
                    f"a schema registry already runs from {self.data_dir} on port "
                    f"{current.port}; run `mchub schema-registry down` first")
            return current, False
        previous = self.load()
        if previous is not None and previous.pid is not None:
            progress("removing the stale pid record of a registry that is no longer running")
        if port_in_use(port):
            raise ConfigurationError(
                f"port {port} on 127.0.0.1 is already in use by another process; stop it or "
                "choose another port with --port (MCHUB_SCHEMA_REGISTRY_PORT)")
        require_tools("java")
        app = build_registry(self.cache_dir, progress)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        progress(f"starting Apicurio Registry {self.version} on 127.0.0.1:{port}")
        spec = RegistrySpec(self.version, port, str(self.data_dir))
        spec.pid = self._launch(app, port)
        self._save(spec)
        try:
            self._wait_healthy(spec, timeout)
        except ConfigurationError:
            terminate(spec.pid, 10.0)
            spec.pid = None
            self._save(spec)
            raise
        return spec, True

    def _launch(self, app: Path, port: int) -> int:
        database = self.data_dir / "h2" / "registry"
        # the app's application.properties sets these under the prod profile, and a
        # profiled key wins over a plain one: so they are given with "%prod." too
        props = {
            "quarkus.http.host": "127.0.0.1",
            "quarkus.http.port": str(port),
            "quarkus.datasource.jdbc.initial-size": "1",
            "quarkus.datasource.jdbc.min-size": "1",
            "quarkus.datasource.jdbc.max-size": "8",
        }
        options = [f"-D{p}{key}={value}" for key, value in props.items() for p in ("", "%prod.")]
        env = {
            **os.environ,
            # a file instead of the default jdbc:h2:mem: ids survive a restart
            "REGISTRY_DATASOURCE_URL": f"jdbc:h2:file:{database}",
            "HTTP_PORT": str(port),
        }
        with self.log_file.open("wb") as out:
            proc = subprocess.Popen(
                ["java", *JVM_OPTIONS, *options, "-jar", str(app / RUNNER_JAR)],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.data_dir,
                env=env,
                start_new_session=True,
            )
        return proc.pid

    def _wait_healthy(self, spec: RegistrySpec, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last = "no answer"
        with httpx.Client(timeout=3.0) as client:
            while time.monotonic() < deadline:
                if not pid_alive(spec.pid):
                    raise ConfigurationError(
                        f"the schema registry exited during start-up: {self._log_tail()}; "
                        f"see {self.log_file}")
                try:
                    answer = client.get(f"{spec.url}/subjects")
                    if answer.status_code == 200:
                        return
                    last = f"HTTP {answer.status_code}"
                except httpx.HTTPError as exc:
                    last = type(exc).__name__
                time.sleep(0.3)
        raise ConfigurationError(
            f"the schema registry at {spec.url} did not become healthy in {timeout:.0f}s "
            f"({last}): {self._log_tail()}; see {self.log_file}")

    def _log_tail(self, lines: int = 6) -> str:
        with contextlib.suppress(OSError):
            return _tail(self.log_file.read_text(errors="replace"), lines)
        return "(no log)"

    def down(self, timeout: float = 30.0) -> bool:
        """Stop the registry (SIGTERM, then SIGKILL after ``timeout``); True when one ran."""
        spec = self.load()
        if spec is None:
            return False
        stopped = pid_alive(spec.pid)
        if stopped:
            terminate(spec.pid, timeout)
            deadline = time.monotonic() + timeout
            while port_in_use(spec.port) and time.monotonic() < deadline:
                time.sleep(0.1)
        spec.pid = None
        self._save(spec)
        return stopped

