"""``mchub render`` / ``mchub verify`` through typer's CliRunner on a small app."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from connectors.crypto.keys import generate_dev_keys, load_signer
from connectors.crypto.statuslist import JsonFileStatusListStore, StatusListService
from hub.cli import render as render_cli
from tests.unit.render.render_support import EXPECTED_FILES, he_sample

pytestmark = pytest.mark.unit

app = typer.Typer()
app.command("render")(render_cli.render)
app.command("verify")(render_cli.verify)
runner = CliRunner()


def _events_file(tmp_path: Path) -> Path:
    """Canonical events as ``mchub normalise`` prints them (JSON lines), plus a revocation."""
    lines = []
    for path in EXPECTED_FILES:
        sample = json.loads(path.read_text(encoding="utf-8"))
        lines.append(
            json.dumps(
                {
                    "recordType": "credential",
                    "credentialKey": sample["credentialKey"],
                    "record": sample["elements"],
                }
            )
        )
    lines.append(json.dumps({"recordType": "revocation", "credentialKey": "he:x", "record": {}}))
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_render_unsigned_elm_to_stdout(tmp_path: Path) -> None:
    result = runner.invoke(app, ["render", "elm", str(_events_file(tmp_path))])
    assert result.exit_code == 0, result.output
    docs = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert len(docs) == 3
    assert all(d["type"] == ["VerifiableCredential", "EuropeanDigitalCredential"] for d in docs)


def test_render_bare_sample_from_stdin() -> None:
    sample = json.dumps(he_sample())
    result = runner.invoke(app, ["render", "ob3", "-"], input=sample)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["type"] == ["VerifiableCredential", "OpenBadgeCredential"]


def test_bad_format_is_a_usage_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["render", "pdf", str(_events_file(tmp_path))])
    assert result.exit_code == 2


@pytest.mark.parametrize("fmt", ["elm", "ob3"])
def test_sealed_render_verify_and_revoke(tmp_path: Path, fmt: str) -> None:
    keys = generate_dev_keys(tmp_path / "keys")
    out, status_dir = tmp_path / "out", tmp_path / "status"
    args = [
        "render",
        fmt,
        str(_events_file(tmp_path)),
        "--key",
        str(keys.key),
        "--cert",
        str(keys.chain),
    ]
    result = runner.invoke(app, [*args, "--out", str(out), "--status-dir", str(status_dir)])
    assert result.exit_code == 0, result.output
    files = sorted(out.iterdir())
    assert len(files) == 3
    list_file = status_dir / "statuslist-1.jwt"
    verify = ["verify", "--trust-anchor", str(keys.ca_cert), "--status-list", str(list_file)]
    ok = runner.invoke(app, [*verify, str(files[0])])
    assert ok.exit_code == 0, ok.output
    assert ok.stdout.startswith("valid") and "status checked" in ok.stdout

    # revoke the first credential and publish the re-signed list
    text = files[0].read_text(encoding="utf-8")
    service = StatusListService(
        JsonFileStatusListStore(status_dir),
        load_signer(keys.key, keys.chain),
        "urn:mchub:issuer:test",
    )
    if fmt == "elm":
        payload = json.loads(json.loads(text)["payload"])
        index = int(payload["credentialStatus"]["@value"].rsplit("#", 1)[1])
    else:
        from connectors.crypto.keys import b64url_decode

        payload = json.loads(b64url_decode(text.split(".")[1]))
        index = int(payload["credentialStatus"]["statusListIndex"])
    list_file.write_text(service.set_status("1", index), encoding="utf-8")
    revoked = runner.invoke(app, [*verify, str(files[0])])
    assert revoked.exit_code == 1 and revoked.stdout.startswith("invalid: revoked")
    still_ok = runner.invoke(app, [*verify, str(files[1])])
    assert still_ok.exit_code == 0, still_ok.output

    # a tampered copy is rejected with a reason
    tampered = tmp_path / "tampered"
    if fmt == "elm":
        doc = json.loads(files[1].read_text(encoding="utf-8"))
        doc["payload"] = (
            doc["payload"].replace("Magyarország", "Ausztria", 1).replace("Hungary", "Austria", 1)
        )
        tampered.write_text(json.dumps(doc), encoding="utf-8")
    else:
        head, body, sig = files[1].read_text(encoding="utf-8").strip().split(".")
        tampered.write_text(f"{head}.{body[:-4]}AAAA.{sig}", encoding="utf-8")
    bad = runner.invoke(app, [*verify, str(tampered)])
    assert bad.exit_code == 1
    assert bad.stdout.startswith("invalid: ")
