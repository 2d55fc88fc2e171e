"""The hub installed like a product: ``pip install .`` (not editable) into a fresh virtual
environment, then run from a directory that is not the checkout (issue 16, item 3).

This is what ``deploy/Dockerfile`` does (CI has no Docker engine, so the test runs what
the image runs): every schema, the local broker's pom and Log4j configuration and the
example issuer registry must come from the installed package, not from the repository.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import REPO_ROOT, free_port_block, shared_dir

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

#: what is not part of a source tree handed to pip (caches, the dev venv, local state)
NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", "var", "build", "dist", "*.egg-info", "__pycache__", ".mypy_cache",
    ".ruff_cache", ".pytest_cache", ".hypothesis",
)


def run(args: list[str], *, cwd: Path, env: dict[str, str], timeout: float) -> str:
    """Run a command; its output, or a failure that shows it."""
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)
    assert done.returncode == 0, f"{' '.join(args)} -> {done.returncode}\n" \
        f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with mchub installed from a copy of the source tree (non-editable)."""
    root = tmp_path_factory.mktemp("install")
    source = root / "source"
    shutil.copytree(REPO_ROOT, source, ignore=NOT_SOURCE)
    venv = root / "venv"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MCHUB_", "PYTHON"))}
    run([sys.executable, "-m", "venv", str(venv)], cwd=root, env=env, timeout=120)
    run([str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check",
         str(source)], cwd=root, env=env, timeout=600)
    shutil.rmtree(source)  # nothing may be read from a source tree afterwards
    return venv


def hub_env(workdir: Path, kafka_port: int) -> dict[str, str]:
    """A user's environment: no MCHUB_* of the test session, the shared samples given."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MCHUB_", "PYTHON"))}
    env.update({
        "MCHUB_DATA_DIR": str(workdir / "var"),
        "MCHUB_KAFKA_PORT": str(kafka_port),
        "MCHUB_SHARED_DIR": str(shared_dir()),
    })
    return env


def test_the_package_is_not_read_from_the_checkout(installed: Path, tmp_path: Path) -> None:
    env = hub_env(tmp_path, 0)
    where = run([str(installed / "bin" / "python"), "-c",
                 "import hub, hub.contract.store as s; print(hub.__file__); "
                 "print(s.DEFAULT_SCHEMA_DIR)"], cwd=tmp_path, env=env, timeout=60)
    for line in where.split():
        assert Path(line).is_relative_to(installed), where
    checked = run([str(installed / "bin" / "mchub"), "schemas", "check"],
                  cwd=tmp_path, env=env, timeout=60)
    assert re.search(r"FULL_TRANSITIVE: versions 1, 2; 3 record\(s\).*: ok", checked), checked


def test_mchub_demo_runs_from_a_temporary_directory(installed: Path, tmp_path: Path) -> None:
    """The demo on the authenticated broker, an erasure with verify and replay after it,
    and the demo again after a broker restart: principals, key store and chain survive."""
    port = free_port_block(2)  # one KRaft node: client and controller ports
    registry_port = free_port_block(1)
    env = {**hub_env(tmp_path, port), "MCHUB_SCHEMA_REGISTRY_PORT": str(registry_port)}
    operator = {**env, "MCHUB_BOOTSTRAP": f"127.0.0.1:{port}"}
    mchub = str(installed / "bin" / "mchub")
    try:
        out = run([mchub, "demo"], cwd=tmp_path, env=env, timeout=600)
        assert f"Kafka 4.1.1 started at 127.0.0.1:{port}" in out, out
        assert "with SASL/SCRAM and ACLs" in out and "principals fir-central" in out, out
        registry_url = f"http://127.0.0.1:{registry_port}/apis/ccompat/v7"
        assert f"started at {registry_url}" in out, out  # the schema registry, with its URL
        assert "6 schemas registered" in out and f"schema registry      {registry_url}" in out
        total = re.search(r"^\s+total\s+(\d+)\s+(\d+)\s+\|\s+(\d+)\s+(\d+)", out,
                          re.MULTILINE)
        assert total is not None, out
        messages, events, accepted, rejected = map(int, total.groups())
        assert messages > 0 and accepted == events and rejected == 0, out
        register = re.search(r"^\s+register\s+(\d+)", out, re.MULTILINE)
        assert register is not None and int(register.group(1)) == events, out
        assert (tmp_path / "var" / "register.db").exists()

        def replayed(target: str) -> int:
            doc = run([mchub, "replay", "--projection", "register-state", "--to", target,
                       "--json"], cwd=tmp_path, env=operator, timeout=300)
            return int(json.loads(doc[doc.index("{"):doc.rindex("}") + 1])["entries"])

        before = replayed("register.credentials.state.before")
        erased = run([mchub, "learners", "erase", "77721222107", "--reason", "test", "--yes"],
                     cwd=tmp_path, env=operator, timeout=300)
        assert "1 credential(s)" in erased and "77721222107" not in erased, erased
        verified = run([mchub, "audit", "verify"], cwd=tmp_path, env=operator, timeout=300)
        assert "OK: every chain and checkpoint verified" in verified, verified
        after = replayed("register.credentials.state.after")
        assert 0 < after < before, (before, after)  # the learner's credential is left out
        anchor = tmp_path / "anchor.json"
        run([mchub, "audit", "anchor", "--out", str(anchor)], cwd=tmp_path, env=operator,
            timeout=300)
        run([mchub, "kafka", "down"], cwd=tmp_path, env=env, timeout=120)
        again = run([mchub, "demo"], cwd=tmp_path, env=env, timeout=600)
        assert f"Kafka 4.1.1 started at 127.0.0.1:{port}" in again, again
        rerun = re.search(r"^\s+total\s+(\d+)\s+(\d+)\s+\|\s+(\d+)\s+(\d+)\s+(\d+)\s+"
                          r"(\d+)", again, re.MULTILINE)
        assert rerun is not None and int(rerun.group(6)) == events, again  # all duplicates
        # the anchor kept before the restart still verifies the chain after it
        verified = run([mchub, "audit", "verify", "--anchor", str(anchor)], cwd=tmp_path,
                       env=operator, timeout=300)
        assert "OK: every chain and checkpoint verified" in verified, verified
        # the key store survived: another learner's data still opens, the erased one not
        other = _json_out(run([mchub, "learners", "export", "73520374068"], cwd=tmp_path,
                              env=operator, timeout=300))
        assert {e["learner"] for e in other["canonicalEvents"]} == {"opened"}, other
        gone = _json_out(run([mchub, "learners", "export", "77721222107"], cwd=tmp_path,
                             env=operator, timeout=300))
        assert {e["learner"] for e in gone["canonicalEvents"]} == {"erased"}, gone
    finally:
        for area in ("kafka", "schema-registry"):
            subprocess.run([mchub, area, "down"], cwd=tmp_path, env=env,
                           capture_output=True, timeout=120, check=False)


def _json_out(output: str) -> dict:  # type: ignore[type-arg]
    """The JSON document a command printed (its progress lines around it left out)."""
    start, end = output.index("{"), output.rindex("}") + 1
    doc: dict = json.loads(output[start:end])  # type: ignore[type-arg]
    return doc


def test_the_core_install_pulls_no_test_only_packages(installed: Path, tmp_path: Path) -> None:
    """What only the tests, their oracles and the stand-ins' PostgreSQL backend use stays
    out of a product install: psycopg comes only with the ``[reference]`` extra, yet the
    demo above ran the reference register (on SQLite) from this install."""
    listed = run([str(installed / "bin" / "pip"), "list", "--format=freeze",
                  "--disable-pip-version-check"], cwd=tmp_path, env=hub_env(tmp_path, 0),
                 timeout=60)
    names = {line.split("==")[0].lower() for line in listed.splitlines() if "==" in line}
    assert "mchub" in names and "aiokafka" in names, names
    assert not names & {"pyyaml", "faust-streaming", "pyshacl", "rdflib", "pyld",
                        "hypothesis", "pytest", "joserfc", "jsonschema", "aiohttp",
                        "psycopg", "psycopg-binary", "psycopg-pool",
                        "import-linter"}, sorted(names)
