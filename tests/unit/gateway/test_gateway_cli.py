"""``mchub gateway keys add|list|revoke`` on a registry file; ``openapi --check``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from hub.authz import example_registry_path, load_registry
from hub.cli.gateway import app
from hub.gateway.auth import authenticate

EXAMPLE = example_registry_path()


def test_keys_add_list_revoke_rotate(tmp_path: Path) -> None:
    path = tmp_path / "issuers.json"
    shutil.copy(EXAMPLE, path)
    runner = CliRunner()
    added = runner.invoke(app, ["keys", "add", "--source", "far-central", "--id", "far-1",
                                "--label", "ops", "--registry", str(path)])
    assert added.exit_code == 0, added.output
    key = added.stdout.strip().splitlines()[0]
    assert key.startswith("mchub.far-1.")
    assert key not in path.read_text(encoding="utf-8")  # only the hash is stored
    second = runner.invoke(app, ["keys", "add", "--source", "far-central", "--id", "far-2",
                                 "--registry", str(path)])
    key2 = second.stdout.strip().splitlines()[0]
    registry = load_registry(path)
    for k in (key, key2):
        who = authenticate(registry, f"Bearer {k}")
        assert who is not None and who.source.id == "far-central"
    listed = runner.invoke(app, ["keys", "list", "--json", "--registry", str(path)])
    rows = json.loads(listed.stdout)
    assert [(r["source"], r["key"], r["label"]) for r in rows] == [
        ("far-central", "far-1", "ops"), ("far-central", "far-2", None)]
    assert "sha256$" not in listed.stdout
    revoked = runner.invoke(app, ["keys", "revoke", "far-1", "--registry", str(path)])
    assert revoked.exit_code == 0
    registry = load_registry(path)
    assert authenticate(registry, f"Bearer {key}") is None
    assert authenticate(registry, f"Bearer {key2}") is not None
    duplicate = runner.invoke(app, ["keys", "add", "--source", "far-central", "--id", "far-2",
                                    "--registry", str(path)])
    assert duplicate.exit_code != 0
    unknown = runner.invoke(app, ["keys", "add", "--source", "ghost", "--registry", str(path)])
    assert unknown.exit_code != 0


def test_openapi_check_reports_current() -> None:
    result = CliRunner().invoke(app, ["openapi", "--check"])
    assert result.exit_code == 0 and "current" in result.stdout
