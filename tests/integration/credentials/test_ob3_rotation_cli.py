"""Key rotation keeps earlier badges verifiable, and ``mchub verify`` works from a credential
file alone (the key found through the issuer server), both against the running server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from connectors.status import StatusPublisher
from connectors.wallet import SentCredentials, WalletRegistry, wallet_destination
from hub.cli.main import app
from hub.crypto.jwks import HttpKeyResolver, signer_jwk
from hub.crypto.keys import b64url_decode, load_signer
from hub.crypto.statuslist import JsonFileStatusListStore, StatusListService
from hub.crypto.verify import status_reference, verify_credential
from tests.integration.credentials.ob3_support import (
    IssuerServer,
    independent_verify,
    issuer_server,
)
from tests.unit.render.render_support import EXPECTED_FILES
from tests.unit.wallet.issuing_support import issued_item

pytestmark = pytest.mark.integration
runner = CliRunner()


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    with issuer_server(tmp_path, monkeypatch) as running:
        yield running


def _ours(token: str, **kw: Any) -> Any:
    with HttpKeyResolver() as keys:
        return verify_credential(token, kw.pop("anchors", []), key_resolver=keys, **kw)


def test_rotation_keeps_earlier_badges_verifiable(server: IssuerServer) -> None:
    _, before = server.wallet.issue(issued_item("he"))
    old = signer_jwk(server.signer)

    result = runner.invoke(app, ["keys", "rotate"])
    assert result.exit_code == 0, result.output
    paths = server.keys_dir
    signer = load_signer(paths / "seal.key.pem", paths / "seal.chain.pem")
    new = signer_jwk(signer)
    assert new["kid"] != old["kid"]
    publisher = StatusPublisher(server.publisher.store, signer, f"{server.url}/v1/status")
    wallet = wallet_destination(
        registry=WalletRegistry.single("http://wallet.invalid", "t"),
        publisher=publisher,
        sent=SentCredentials(":memory:"),
    )
    _, after = wallet.issue(issued_item("vet"))

    for token, jwk in ((before, old), (after, new)):
        header = json.loads(b64url_decode(token.split(".")[0]))
        assert header["kid"].endswith("/keys/" + jwk["kid"])
        independent_verify(token)
        assert _ours(token).valid
    issuer = independent_verify(before)["iss"]
    kids = [k["kid"] for k in httpx.get(issuer + "/jwks", timeout=10).json()["keys"]]
    assert kids[:2] == [new["kid"], old["kid"]]  # current first, the earlier one kept
    listed = runner.invoke(app, ["keys", "list"])
    assert listed.exit_code == 0
    lines = listed.stdout.splitlines()
    assert lines[0].split()[:2] == ["current", new["kid"]]
    assert any(old["kid"] in line for line in lines[1:])


def _events(tmp_path: Path) -> Path:
    lines = [
        json.dumps({"recordType": "credential", "credentialKey": s["credentialKey"],
                    "record": s["elements"]})
        for s in (json.loads(p.read_text(encoding="utf-8")) for p in EXPECTED_FILES)
    ]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("fmt", ["ob3", "elm"])
def test_render_then_verify_from_the_file_alone(
    server: IssuerServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    monkeypatch.setenv("MCHUB_STATUS_DB", str(server.db))  # profiles recorded for the server
    out, status_dir = tmp_path / "out", tmp_path / "lists"
    base = ["--status-base-url", f"{server.url}/v1/status"]
    rendered = runner.invoke(
        app,
        ["render", fmt, str(_events(tmp_path)), "--dev-keys", "--out", str(out),
         "--status-dir", str(status_dir), *base],
    )
    assert rendered.exit_code == 0, rendered.output
    files = sorted(out.iterdir())
    assert len(files) == 3
    lists = sorted(status_dir.glob("statuslist-*.jwt"))
    assert lists
    anchor = [] if fmt == "ob3" else ["--trust-anchor", str(server.keys_dir / "ca.cert.pem")]
    verify = ["verify", *anchor, *[arg for p in lists for arg in ("--status-list", str(p))]]
    ok = runner.invoke(app, [*verify, str(files[0])])
    assert ok.exit_code == 0, ok.output
    assert ok.stdout.startswith("valid") and "status checked" in ok.stdout
    if fmt == "ob3":
        assert "with key " + server.url in ok.stdout  # found through the served documents
        alone = runner.invoke(app, ["verify", str(files[1])])  # nothing but the file
        assert alone.exit_code == 0 and alone.stdout.startswith("valid"), alone.output

    # revoke the first credential: the re-signed list says so
    text = files[0].read_text(encoding="utf-8").strip()
    payload = (
        json.loads(json.loads(text)["payload"])
        if fmt == "elm"
        else json.loads(b64url_decode(text.split(".")[1]))
    )
    url, index, _ = status_reference(payload) or ("", 0, "")
    list_id = url.rsplit("/", 1)[-1]
    service = StatusListService(
        JsonFileStatusListStore(status_dir), server.signer, "unused", f"{server.url}/v1/status",
        kid_for=_elm_kid(server) if fmt == "elm" else (lambda issuer: None),
    )
    (status_dir / f"statuslist-{list_id}.jwt").write_text(
        service.set_status(list_id, index), encoding="utf-8"
    )
    revoked = runner.invoke(app, [*verify, str(files[0])])
    assert revoked.exit_code == 1 and revoked.stdout.startswith("invalid: revoked"), revoked.output
    still = runner.invoke(app, [*verify, str(files[1])])
    assert still.exit_code == 0, still.output


def _elm_kid(server: IssuerServer) -> Any:
    from connectors.status.publisher import hub_key_owner_url

    def kid(issuer: str) -> str:
        return hub_key_owner_url(server.url, server.signer) + "/keys/" + signer_jwk(
            server.signer
        )["kid"]

    return kid
