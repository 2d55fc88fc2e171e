"""Reference docs are current; ``mchub validate``, ``schemas doc`` and ``bench codec`` work."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from hub.cli import bench as bench_cli
from hub.cli import contract as contract_cli
from hub.contract.docs import (
    RULES_REFERENCE,
    SCHEMA_REFERENCE,
    render_rules_reference,
    render_schema_reference,
)
from hub.contract.models import EU_ELEMENTS
from hub.contract.rules import RULES
from tests.unit.contract.contract_testdata import as_json, build, enrolment_normalised, issued

pytestmark = pytest.mark.unit

RUNNER = CliRunner()


def _validate_app() -> typer.Typer:
    app = typer.Typer()
    app.command("validate")(contract_cli.validate)
    app.command("noop")(lambda: None)  # keep validate a subcommand, as under mchub
    return app


def test_committed_schema_reference_is_current() -> None:
    assert SCHEMA_REFERENCE.read_text(encoding="utf-8") == render_schema_reference(), (
        "docs/schema-reference.md is stale: run `mchub schemas doc`")


def test_committed_rules_reference_is_current() -> None:
    assert RULES_REFERENCE.read_text(encoding="utf-8") == render_rules_reference(), (
        "docs/validation-rules.md is stale: run `mchub schemas doc`")


def test_every_eu_element_has_a_field_in_the_reference() -> None:
    text = render_schema_reference()
    assert len(EU_ELEMENTS) == 16
    table = text.split("## EU standard elements", 1)[1].split("## Fields", 1)[0]
    for element in EU_ELEMENTS.values():
        row = next(line for line in table.splitlines() if line.startswith(f"| {element} |"))
        assert "`" in row and "**none**" not in row, row
    fields = text.split("## Fields", 1)[1]
    for element in EU_ELEMENTS.values():
        assert f"| {element} |" in fields  # shown next to a field with its ELM path


def test_every_rule_is_in_the_rules_reference() -> None:
    text = render_rules_reference()
    for rule in RULES:
        assert f"| `{rule}` |" in text


def test_schemas_doc_check_reports_current() -> None:
    result = RUNNER.invoke(contract_cli.schemas_app, ["doc", "--check"])
    assert result.exit_code == 0, result.output


def test_validate_accepts_valid_events(tmp_path: Path) -> None:
    single = tmp_path / "issued.json"
    single.write_text(json.dumps(as_json(issued("vet"))), encoding="utf-8")
    lines = tmp_path / "events.jsonl"
    lines.write_text("\n".join(json.dumps(as_json(e)) for e in
                               (issued("he"), build(enrolment_normalised()))) + "\n")
    result = RUNNER.invoke(_validate_app(), ["validate", str(single), str(lines)])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""


def test_validate_reports_one_line_per_problem(tmp_path: Path) -> None:
    data = as_json(issued("he"))
    data["credential"]["learningOutcomes"][1]["esco"] = "http://example.org/skill"
    data["credential"]["level"]["eqf"] = 9
    data["credential"]["level"]["qfEheaCycle"] = None
    data["credential"]["level"]["nationalLevel"] = None
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(as_json(issued("al"))) + "\n" + json.dumps(data) + "\n")
    result = RUNNER.invoke(_validate_app(), ["validate", str(bad)])
    assert result.exit_code == 1
    lines = result.stdout.strip().splitlines()
    assert sorted(lines) == sorted([
        f"{bad}:2\tINVALID_ESCO_URI\tcredential.learningOutcomes[1].esco\t"
        "'http://example.org/skill' does not match "
        r"^http://data\.europa\.eu/esco/skill/"
        "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
        f"{bad}:2\tLEVEL_OUT_OF_RANGE\tcredential.level.eqf\tEQF level 9 is not 1-8",
    ])


def test_validate_json_output(tmp_path: Path) -> None:
    data = as_json(issued("he"))
    del data["credential"]["title"]["en"]
    data["credential"]["notionalWorkload"]["hours"] = 0
    path = tmp_path / "e.json"
    path.write_text(json.dumps(data))
    result = RUNNER.invoke(_validate_app(), ["validate", "--json", str(path)])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["valid"] is False and report["events"] == 1
    rules = {(f["rule"], f["severity"]) for f in report["findings"]}
    assert rules == {("WORKLOAD_NOT_POSITIVE", "error"), ("NO_ENGLISH_TITLE", "warning")}
    assert report["findings"][0]["file"] == str(path)


def test_validate_unreadable_input_is_one_line_without_traceback(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.json"
    garbage.write_bytes(b"{not json")
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe\x00")
    result = RUNNER.invoke(_validate_app(), ["validate", str(garbage), str(binary),
                                             str(tmp_path / "missing.json")])
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 3
    assert all(e.startswith("mchub: error: cannot read ") for e in errors)
    assert "Traceback" not in result.output


def test_validate_unknown_event_type(tmp_path: Path) -> None:
    path = tmp_path / "e.json"
    path.write_text(json.dumps({"envelope": {"eventType": "merged"}}))
    result = RUNNER.invoke(_validate_app(), ["validate", str(path)])
    assert result.exit_code == 1
    assert result.stdout.startswith(f"{path}\tUNKNOWN_EVENT_TYPE\tenvelope.eventType\t")


def test_bench_codec_prints_one_json_object() -> None:
    result = RUNNER.invoke(bench_cli.app, ["codec", "--events", "30", "--rounds", "1"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["codec_events_per_s"] > 0 and report["raw_fastavro_events_per_s"] > 0
    assert report["ratio"] > 0
    assert {"cpu", "cores", "python"} <= set(report["machine"])
