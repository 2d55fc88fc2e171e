"""Schema evolution: models agree with the released schemas; FULL_TRANSITIVE is enforced."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from hub.cli.contract import schemas_app
from hub.contract.avrogen import current_schemas
from hub.contract.compat import check_dir, data_problems, resolution_problems
from hub.contract.models import EVENT_CLASSES
from hub.contract.store import DEFAULT_SCHEMA_DIR, SchemaStore, write_version

pytestmark = pytest.mark.unit

RECORDS = ["CredentialIssued", "CredentialRevoked", "EnrolmentRecorded"]


def _released(root: Path, version: int = 1) -> dict[str, dict[str, Any]]:
    return {n: json.loads((root / f"v{version}" / f"{n}.avsc").read_text()) for n in RECORDS}


@pytest.fixture
def schema_dir(tmp_path: Path) -> Path:
    root = tmp_path / "eu.mchub.canonical"
    shutil.copytree(DEFAULT_SCHEMA_DIR, root)
    return root


def test_models_generate_exactly_the_newest_released_schemas() -> None:
    store = SchemaStore()
    assert sorted(store.names()) == sorted(EVENT_CLASSES)
    for name, schema in current_schemas().items():
        assert store.get(name).schema == schema, f"{name}: models and schema disagree"


def _fields(schema: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(schema, list):
        for branch in schema:
            found += _fields(branch)
    elif isinstance(schema, dict):
        if schema.get("type") == "record":
            for f in schema["fields"]:
                found.append(f)
                found += _fields(f["type"])
        elif schema.get("type") == "array":
            found += _fields(schema["items"])
        elif schema.get("type") == "map":
            found += _fields(schema["values"])
    return found


@pytest.mark.parametrize("name", RECORDS)
def test_every_field_has_a_doc_and_the_model_field_agrees(name: str) -> None:
    schema = SchemaStore().get(name).schema
    assert schema["name"] == f"eu.mchub.canonical.{name}"
    for f in _fields(schema):
        assert f.get("doc"), f"{f['name']} has no doc"
    model_fields = {info.alias or n for n, info in EVENT_CLASSES[name].model_fields.items()}
    assert model_fields == {f["name"] for f in schema["fields"]}


def test_envelope_has_optional_prev_hash_defaulting_to_null() -> None:
    envelope = SchemaStore().get("CredentialIssued").schema["fields"][0]["type"]
    prev = next(f for f in envelope["fields"] if f["name"] == "prevHash")
    assert prev["type"] == ["null", "string"] and prev["default"] is None


def test_released_versions_are_full_transitive() -> None:
    report = check_dir(DEFAULT_SCHEMA_DIR)
    assert report.ok, report.problems
    assert report.versions == [1, 2]
    assert report.pairs_checked == 3 * 2 * 2  # every record, every (writer, reader) pair


def test_compatible_v2_passes(schema_dir: Path) -> None:
    v2 = copy.deepcopy(_released(schema_dir))
    v2["CredentialIssued"]["fields"].append(
        {"name": "issuerNote", "type": ["null", "string"], "default": None, "doc": "note"})
    v2["EnrolmentRecorded"]["fields"].append(
        {"name": "tags", "type": {"type": "array", "items": "string"}, "default": [],
         "doc": "tags"})
    write_version(schema_dir, 2, v2)
    report = check_dir(schema_dir)
    assert report.ok, report.problems
    assert report.versions == [1, 2] and report.pairs_checked == 12
    result = CliRunner().invoke(schemas_app, ["check", "--dir", str(schema_dir)])
    assert result.exit_code == 0, result.output
    assert "ok" in result.output


def test_new_required_field_breaks_and_is_named(schema_dir: Path) -> None:
    v2 = copy.deepcopy(_released(schema_dir))
    v2["CredentialRevoked"]["fields"].append(
        {"name": "revokingAuthority", "type": "string", "doc": "who revoked"})
    write_version(schema_dir, 2, v2)
    report = check_dir(schema_dir)
    assert not report.ok
    assert any("v1 data read with v2" in p and "revokingAuthority" in p and "no default" in p
               for p in report.problems), report.problems
    result = CliRunner().invoke(schemas_app, ["check", "--dir", str(schema_dir)])
    assert result.exit_code == 1
    assert "revokingAuthority" in result.output and "FAILED" in result.output


def test_changed_type_breaks_in_both_directions(schema_dir: Path) -> None:
    v2 = copy.deepcopy(_released(schema_dir))
    revoked_on = next(f for f in v2["CredentialRevoked"]["fields"] if f["name"] == "revokedOn")
    revoked_on["type"] = "string"
    write_version(schema_dir, 2, v2)
    problems = check_dir(schema_dir).problems
    assert any("v1 data read with v2" in p and "revokedOn" in p for p in problems)
    assert any("v2 data read with v1" in p and "revokedOn" in p for p in problems)


def test_fastavro_agrees_that_the_required_field_breaks(schema_dir: Path) -> None:
    v2 = copy.deepcopy(_released(schema_dir))
    v2["CredentialRevoked"]["fields"].append({"name": "x", "type": "string", "doc": "x"})
    write_version(schema_dir, 2, v2)
    store = SchemaStore(schema_dir)
    old, new = store.get("CredentialRevoked", 1), store.get("CredentialRevoked", 2)
    assert list(data_problems(old, new))  # fastavro cannot resolve v1 data with v2
    assert not list(data_problems(new, old))  # dropping a field when reading is fine


def test_resolution_rules_allow_promotions_and_reject_narrowing() -> None:
    assert not list(resolution_problems("int", "long", "f"))
    assert list(resolution_problems("long", "int", "f"))
    assert not list(resolution_problems("string", ["null", "string"], "f"))
    assert list(resolution_problems(["null", "string"], "string", "f"))
    enum_v1 = {"type": "enum", "name": "E", "symbols": ["A", "B"]}
    enum_v2 = {"type": "enum", "name": "E", "symbols": ["A"]}
    assert list(resolution_problems(enum_v1, enum_v2, "f"))
    assert not list(resolution_problems(enum_v2, enum_v1, "f"))


def test_editing_a_released_version_is_detected(schema_dir: Path) -> None:
    path = schema_dir / "v1" / "CredentialRevoked.avsc"
    schema = json.loads(path.read_text())
    schema["fields"].append({"name": "y", "type": ["null", "int"], "default": None, "doc": "y"})
    path.write_text(json.dumps(schema))
    problems = check_dir(schema_dir).problems
    assert any("was edited" in p for p in problems), problems
