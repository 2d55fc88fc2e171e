"""``mchub render`` / ``mchub verify`` through typer's CliRunner on a small app."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from connectors.status.issuers import IssuerDirectory, path_of
from hub.cli import render as render_cli
from hub.crypto.devca import generate_dev_keys
from hub.crypto.jwks import published_keys, signer_jwk
from hub.crypto.keys import b64url_decode, load_signer
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


def test_signed_ob3_names_its_issuer_server_and_publishes_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MCHUB_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("MCHUB_SUBJECT_ID_SECRET", raising=False)
    keys = generate_dev_keys(tmp_path / "keys")
    out = tmp_path / "out"
    args = ["render", "ob3", str(_events_file(tmp_path)), "--key", str(keys.key)]
    args += ["--cert", str(keys.chain), "--out", str(out)]
    result = runner.invoke(app, [*args, "--public-base-url", "https://hub.example"])
    assert result.exit_code == 0, result.output
    signer = load_signer(keys.key, keys.chain)
    jwk = signer_jwk(signer)
    assert published_keys(tmp_path / "keys") == [jwk]
    directory = IssuerDirectory(tmp_path / "status" / "status.db")
    for path in sorted(out.iterdir()):
        head, body, _ = path.read_text(encoding="utf-8").strip().split(".")
        header, payload = json.loads(b64url_decode(head)), json.loads(b64url_decode(body))
        issuer = payload["issuer"]["id"]
        assert issuer.startswith("https://hub.example/v1/issuers/")
        assert header == {"alg": "ES256", "kid": f"{issuer}/keys/{jwk['kid']}", "typ": "JWT"}
        assert payload["sub"] == payload["credentialSubject"]["id"]
        assert payload["sub"].startswith("urn:uuid:")
        assert directory.profile(*path_of(issuer)) == payload["issuer"]
    directory.close()
    # verification from the file alone (key over HTTP): tests/integration/credentials
