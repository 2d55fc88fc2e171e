"""Data the hub reads comes from its packages, never from the checkout (issue 16, item 3).

The non-editable install itself is tested in ``tests/integration/test_install.py``."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from hub.authz import example_registry_path, load_registry
from hub.cli.main import app
from hub.contract.store import DEFAULT_SCHEMA_DIR, SchemaStore
from hub.errors import ConfigurationError
from hub.localkafka import kafka_command_files
from hub.resources import package_path

HUB = Path(__import__("hub").__file__).parent


def test_every_data_file_lives_inside_a_package() -> None:
    for path in (DEFAULT_SCHEMA_DIR, example_registry_path(), *kafka_command_files()):
        assert path.exists() and path.is_relative_to(HUB), path
    assert len(SchemaStore().versions) >= 1
    assert load_registry(example_registry_path()).document.sources  # a real registry


def test_missing_package_data_says_how_to_repair_the_install() -> None:
    with pytest.raises(ConfigurationError, match="reinstall mchub"):
        package_path("hub", "no-such-file.json")


def test_demo_without_samples_says_where_to_point_it_before_starting_kafka(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MCHUB_SHARED_DIR", str(tmp_path / "nowhere"))
    monkeypatch.setenv("MCHUB_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("MCHUB_ISSUERS", str(example_registry_path()))
    result = CliRunner().invoke(app, ["demo"])  # mchub's main prints it as one line
    assert isinstance(result.exception, ConfigurationError), result.output
    assert "MCHUB_SHARED_DIR" in str(result.exception) and "--samples" in str(result.exception)
    assert not (tmp_path / "var" / "kafka").exists()  # no broker was started for nothing
