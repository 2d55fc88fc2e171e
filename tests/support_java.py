"""Small Java programs of the tests, built by Maven + javac into the cache (test support).

One mechanism for every such tool (``tools/<name>/``: a ``pom.xml`` whose runtime classpath
Maven copies with :func:`hub.localkafka.maven_copy_dependencies`, and Java sources compiled
with ``javac``): :func:`build_java_tool` builds it once into
``~/.cache/mchub/<name>-<hash>/`` (``<hash>``: SHA-256 of the pom and the sources, so a
change rebuilds and an unchanged checkout reuses the cache across runs).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from hub.errors import ConfigurationError
from hub.localkafka import maven_copy_dependencies, require_tools
from hub.settings import default_cache_dir


@dataclass(frozen=True)
class JavaTool:
    """A built tool: its classpath (compiled classes + the pom's jars)."""

    home: Path

    @property
    def classpath(self) -> str:
        return f"{self.home / 'classes'}:{self.home / 'libs'}/*"


def build_java_tool(
    name: str, tool_dir: Path, source_dir: Path, *, expect_jar: str, what: str,
    cache_dir: Path | None = None,
) -> JavaTool:
    """The tool ``name``, built on first use; ``expect_jar`` (a glob) must be among the
    jars Maven fetched, else a ConfigurationError names ``what`` could not be fetched."""
    sources = sorted(source_dir.glob("*.java"))
    digest = hashlib.sha256()
    for path in (tool_dir / "pom.xml", *sources):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    home = (cache_dir or default_cache_dir()) / f"{name}-{digest.hexdigest()[:16]}"
    if (home / ".complete").exists():
        return JavaTool(home)
    require_tools("java", "javac", "mvn")
    staging = home.with_name(home.name + ".partial")
    result = maven_copy_dependencies(tool_dir / "pom.xml", staging / "libs")
    if result.returncode != 0 or not any((staging / "libs").glob(expect_jar)):
        tail = (result.stdout + result.stderr).strip().splitlines()[-5:]
        raise ConfigurationError(f"Maven could not fetch {what}: {' | '.join(tail)}")
    compiled = subprocess.run(
        ["javac", "-d", str(staging / "classes"), "-cp", f"{staging / 'libs'}/*",
         *map(str, sources)],
        capture_output=True, text=True, check=False,
    )
    if compiled.returncode != 0:
        raise ConfigurationError(f"javac failed: {compiled.stderr.strip()[-2000:]}")
    shutil.rmtree(home, ignore_errors=True)
    staging.rename(home)
    (home / ".complete").write_text(what)
    return JavaTool(home)
