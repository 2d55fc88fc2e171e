"""``mchub pki``: revoke the dev seal, revoke by serial, show/renew the CRL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hub.cli.main import app, main
from hub.crypto import pki
from hub.crypto.devca import dev_signer
from hub.crypto.keys import CRL_FILE

runner = CliRunner()


def _serials(keys: Path) -> list[int]:
    return [e.serial for e in pki.revoked_entries(pki.load_crl(keys / CRL_FILE))]


def test_revoke_seal_and_show_the_crl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCHUB_DATA_DIR", str(tmp_path))
    signer = dev_signer(tmp_path / "keys")
    result = runner.invoke(app, ["pki", "revoke-seal", "--reason", "superseded"])
    assert result.exit_code == 0, result.output
    serial = signer.certificate.serial_number
    assert f"{serial:x}" in result.output and _serials(tmp_path / "keys") == [serial]
    shown = runner.invoke(app, ["pki", "crl"])
    assert shown.exit_code == 0, shown.output
    crl = json.loads(shown.output)
    assert crl["number"] == 2
    assert crl["revoked"] == [
        {
            "serial": f"{serial:x}",
            "revokedAt": crl["revoked"][0]["revokedAt"],
            "reason": "superseded",
        }
    ]


def test_revoke_by_serial_in_another_keys_dir(tmp_path: Path) -> None:
    keys = tmp_path / "elsewhere"
    dev_signer(keys)
    result = runner.invoke(app, ["pki", "revoke", "0A:FF", "--keys-dir", str(keys)])
    assert result.exit_code == 0, result.output
    assert _serials(keys) == [0x0AFF]


def test_errors_are_one_line_messages(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["pki", "revoke-seal", "--keys-dir", str(tmp_path / "nothing")])
    assert exited.value.code != 0
    assert "no dev CA in" in capsys.readouterr().err
    dev_signer(tmp_path / "keys")
    with pytest.raises(SystemExit):
        main(["pki", "revoke", "xyz", "--keys-dir", str(tmp_path / "keys")])
    assert "not a hexadecimal serial" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["pki", "revoke-seal", "--keys-dir", str(tmp_path / "keys"), "--reason", "whim"])
    assert "unknown revocation reason" in capsys.readouterr().err
