"""The dev CA's CRL: what the seal certificate names, issuing, revoking, renewing, serving,
and the revocation check of verify_seal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from fastapi import FastAPI
from fastapi.testclient import TestClient

from connectors.status.pki import CERT_MEDIA_TYPE, CRL_MEDIA_TYPE, pki_router
from hub.crypto import pki
from hub.crypto.devca import dev_signer, generate_dev_keys
from hub.crypto.jades import seal, verify_seal
from hub.crypto.keys import (
    CRL_FILE,
    Signer,
    crl_distribution_points,
    load_certificates,
    load_private_key,
    load_signer,
)
from hub.errors import VerificationError

BASE = "https://issuer.example.hu"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _aia(cert: x509.Certificate) -> list[tuple[str, str]]:
    aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    return [(d.access_method.dotted_string, d.access_location.value) for d in aia]


def _crl(directory: Path) -> x509.CertificateRevocationList:
    return x509.load_der_x509_crl((directory / CRL_FILE).read_bytes())


def _ca(directory: Path) -> x509.Certificate:
    return load_certificates(directory / "ca.cert.pem")[0]


def test_seal_certificate_names_the_crl_and_ca_under_the_public_base_url(tmp_path: Path) -> None:
    signer = dev_signer(tmp_path, public_base_url=BASE + "/")
    assert crl_distribution_points(signer.certificate) == [f"{BASE}/v1/pki/ca.crl"]
    assert _aia(signer.certificate) == [("1.3.6.1.5.5.7.48.2", f"{BASE}/v1/pki/ca.cert")]
    crl = _crl(tmp_path)  # issued with the keys: empty, signed by the CA, number 1
    ca = _ca(tmp_path)
    assert crl.issuer == ca.subject and crl.is_signature_valid(ca.public_key())  # type: ignore[arg-type]
    assert len(crl) == 0 and pki.crl_number(crl) == 1
    assert crl.next_update_utc is not None
    assert crl.next_update_utc - crl.last_update_utc == pki.CRL_VALIDITY


def test_new_keys_without_a_url_name_the_dev_default(tmp_path: Path) -> None:
    signer = dev_signer(tmp_path)
    assert crl_distribution_points(signer.certificate) == ["http://localhost:8080/v1/pki/ca.crl"]


def test_a_moved_base_url_reissues_the_dev_seal_with_the_same_key(tmp_path: Path) -> None:
    first = dev_signer(tmp_path, public_base_url="http://127.0.0.1:1111")
    assert dev_signer(tmp_path).certificate == first.certificate  # no URL given: kept
    same = dev_signer(tmp_path, public_base_url="http://127.0.0.1:1111")
    assert same.certificate == first.certificate  # same URL: kept
    moved = dev_signer(tmp_path, public_base_url=BASE)
    assert crl_distribution_points(moved.certificate) == [f"{BASE}/v1/pki/ca.crl"]
    assert moved.certificate.serial_number != first.certificate.serial_number
    assert moved.certificate.subject == first.certificate.subject
    assert moved.key.private_numbers() == first.key.private_numbers()  # type: ignore[union-attr]
    assert moved.chain[1] == first.chain[1]  # the CA stays
    assert moved.certificate.not_valid_after_utc == first.certificate.not_valid_after_utc


def test_certificates_of_another_ca_are_never_rewritten(tmp_path: Path) -> None:
    """A chain not issued by the dev CA (a production seal copied in) stays as it is."""
    dev = generate_dev_keys(tmp_path / "dev", public_base_url=BASE)
    other = generate_dev_keys(tmp_path / "other", public_base_url="http://other")
    dev.chain.write_bytes(other.chain.read_bytes())
    dev.key.write_bytes(other.key.read_bytes())
    before = dev.chain.read_bytes()
    generate_dev_keys(tmp_path / "dev", public_base_url="http://moved")
    assert dev.chain.read_bytes() == before


def test_revoking_the_seal_lists_its_serial_once_and_renumbers(tmp_path: Path) -> None:
    signer = dev_signer(tmp_path, public_base_url=BASE)
    serial = pki.revoke_seal(tmp_path, now=NOW)
    assert serial == signer.certificate.serial_number
    crl = _crl(tmp_path)
    assert [e.serial for e in pki.revoked_entries(crl)] == [serial]
    assert pki.revoked_entries(crl)[0].reason == x509.ReasonFlags.key_compromise
    assert pki.revoked_entries(crl)[0].revoked_at == NOW
    assert pki.crl_number(crl) == 2
    pki.revoke_seal(tmp_path, now=NOW + timedelta(hours=1))  # again: still listed once
    again = _crl(tmp_path)
    assert [e.serial for e in pki.revoked_entries(again)] == [serial]
    assert pki.crl_number(again) == 3


def test_the_crl_is_renewed_past_half_its_window_keeping_its_entries(tmp_path: Path) -> None:
    dev_signer(tmp_path)
    pki.revoke_certificate(tmp_path, 12345, reason=None, now=NOW)
    issued = _crl(tmp_path)
    pki.ensure_crl(tmp_path, now=NOW + pki.CRL_VALIDITY / 4)
    assert _crl(tmp_path) == issued  # not due yet
    pki.ensure_crl(tmp_path, now=NOW + pki.CRL_VALIDITY * 3 / 4)
    renewed = _crl(tmp_path)
    assert pki.crl_number(renewed) == pki.crl_number(issued) + 1
    assert pki.revoked_entries(renewed) == pki.revoked_entries(issued)
    assert renewed.next_update_utc is not None and renewed.next_update_utc > NOW + pki.CRL_VALIDITY


def test_without_a_ca_key_no_crl_is_issued(tmp_path: Path) -> None:
    paths = generate_dev_keys(tmp_path)
    paths.ca_key.unlink()
    with pytest.raises(Exception, match="no CA key"):
        pki.revoke_seal(tmp_path)


# --- the revocation check --------------------------------------------------------------


@pytest.fixture
def dev(tmp_path: Path) -> tuple[Path, Signer, x509.Certificate]:
    signer = dev_signer(tmp_path / "keys", public_base_url=BASE)
    return tmp_path / "keys", signer, _ca(tmp_path / "keys")


def test_check_revocation_good_revoked_stale_and_foreign(dev: Any, tmp_path: Path) -> None:
    keys, signer, ca = dev
    now = datetime.now(UTC)
    pki.check_revocation(signer.certificate, ca, _crl(keys), now=now)  # good: no exception
    stale = now + pki.CRL_VALIDITY + timedelta(minutes=1)
    with pytest.raises(VerificationError) as err:
        pki.check_revocation(signer.certificate, ca, _crl(keys), now=stale)
    assert err.value.code == "revocation-unknown"
    other = generate_dev_keys(tmp_path / "other")
    foreign = pki.build_crl(
        load_certificates(other.ca_cert)[0],
        load_private_key(other.ca_key),
        [],
        number=1,
        this_update=now,
    )
    with pytest.raises(VerificationError) as err:
        pki.check_revocation(signer.certificate, ca, foreign, now=now)
    assert err.value.code == "revocation-unknown"
    pki.revoke_seal(keys)
    with pytest.raises(VerificationError) as err:
        pki.check_revocation(signer.certificate, ca, _crl(keys), now=now + timedelta(seconds=5))
    assert err.value.code == "certificate-revoked"


def test_verify_seal_fetches_the_named_crl(dev: Any) -> None:
    keys, signer, ca = dev
    fetched: list[str] = []

    def fetch(url: str) -> bytes:
        fetched.append(url)
        return (keys / CRL_FILE).read_bytes()

    check = pki.crl_revocation_check(fetch)
    sealed = seal({"id": "urn:x"}, signer)
    info = verify_seal(sealed, [ca], revocation=check)
    assert info.credential == {"id": "urn:x"} and fetched == [f"{BASE}/v1/pki/ca.crl"]
    pki.revoke_seal(keys)
    with pytest.raises(VerificationError) as err:
        verify_seal(sealed, [ca], revocation=check, now=datetime.now(UTC) + timedelta(seconds=5))
    assert err.value.code == "certificate-revoked"


def test_unreachable_or_missing_crl_is_revocation_unknown(dev: Any, tmp_path: Path) -> None:
    _keys, signer, ca = dev

    def unreachable(url: str) -> bytes:
        raise OSError(f"{url}: connection refused")

    sealed = seal({"id": "urn:x"}, signer)
    with pytest.raises(VerificationError) as err:
        verify_seal(sealed, [ca], revocation=pki.crl_revocation_check(unreachable))
    assert err.value.code == "revocation-unknown" and "connection refused" in err.value.message
    # a certificate without a distribution point: no revocation information at all
    ca_key = load_private_key(_keys / "ca.key.pem")
    bare = (
        x509.CertificateBuilder()
        .subject_name(signer.certificate.subject)
        .issuer_name(ca.subject)
        .public_key(signer.key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(signer.certificate.not_valid_before_utc)
        .not_valid_after(signer.certificate.not_valid_after_utc)
        .sign(ca_key, signer.certificate.signature_hash_algorithm)
    )
    without = Signer(signer.key, (bare, ca))
    with pytest.raises(VerificationError) as err:
        verify_seal(
            seal({"id": "urn:y"}, without), [ca], revocation=pki.crl_revocation_check(unreachable)
        )
    assert err.value.code == "revocation-unknown" and "no CRL distribution point" in str(err.value)


def test_a_pinned_leaf_is_not_checked_for_revocation(dev: Any) -> None:
    """A leaf that is itself the trust anchor (as with the Commission's sample) has no
    issuer to ask: like DSS with trust anchors, no revocation check."""
    _keys, signer, _ca_cert = dev

    def never(url: str) -> bytes:
        raise AssertionError("fetched")

    info = verify_seal(
        seal({"id": "urn:x"}, signer),
        [signer.certificate],
        revocation=pki.crl_revocation_check(never),
    )
    assert info.certificate == signer.certificate


# --- serving --------------------------------------------------------------------------


def test_the_router_serves_the_crl_and_ca_certificate_as_der(dev: Any, tmp_path: Path) -> None:
    keys, _signer, ca = dev
    app = FastAPI()
    app.include_router(pki_router(keys))
    client = TestClient(app)
    crl = client.get("/v1/pki/ca.crl")
    assert crl.status_code == 200 and crl.headers["content-type"] == CRL_MEDIA_TYPE
    assert crl.content == (keys / CRL_FILE).read_bytes()
    cert = client.get("/v1/pki/ca.cert")
    assert cert.status_code == 200 and cert.headers["content-type"] == CERT_MEDIA_TYPE
    assert cert.content == ca.public_bytes(serialization.Encoding.DER)
    pki.revoke_seal(keys)  # read per request: the new CRL at once
    assert client.get("/v1/pki/ca.crl").content == (keys / CRL_FILE).read_bytes() != crl.content
    empty = FastAPI()
    empty.include_router(pki_router(tmp_path / "none"))
    assert TestClient(empty).get("/v1/pki/ca.crl").status_code == 404
    assert TestClient(empty).get("/v1/pki/ca.cert").status_code == 404


def test_the_status_app_serves_the_keys_of_its_data_dir(
    dev: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from connectors.status.server import create_status_app
    from connectors.status.store import SqliteStatusStore

    keys, _signer, _ca_cert = dev
    monkeypatch.setenv("MCHUB_DATA_DIR", str(keys.parent))
    with SqliteStatusStore(tmp_path / "status.db") as store:
        app = create_status_app(store)
        answer = TestClient(app).get("/v1/pki/ca.crl")
        assert answer.status_code == 200 and answer.content == (keys / CRL_FILE).read_bytes()
        # a server over another data directory is given its keys directory
        other = generate_dev_keys(tmp_path / "other-keys")
        app = create_status_app(store, other.ca_cert.parent)
        answer = TestClient(app).get("/v1/pki/ca.crl")
        assert answer.content == (other.ca_cert.parent / CRL_FILE).read_bytes()


def test_loaded_dev_signer_matches(dev: Any) -> None:
    keys, signer, _ca_cert = dev
    assert load_signer(keys / "seal.key.pem", keys / "seal.chain.pem").chain == signer.chain
