"""JAdES seal of ELM and VC-JWT of OB3: round trips, and tampering rejected with a reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from hub.crypto.devca import dev_signer, generate_dev_keys
from hub.crypto.jades import seal, verify_seal
from hub.crypto.jose import parse_x5c
from hub.crypto.jwks import signer_jwk
from hub.crypto.keys import Signer, b64url, b64url_decode, load_certificates, load_signer
from hub.crypto.vcjwt import sign_vc
from hub.crypto.verify import verify_credential
from hub.errors import VerificationError
from hub.render.elm import render_elm
from hub.render.jsonld import default_reference_dir, validate_edc
from hub.render.ob3 import render_ob3
from tests.unit.render.render_support import he_sample, make_input

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Signer, list[x509.Certificate]]:
    directory = tmp_path_factory.mktemp("keys")
    signer = dev_signer(directory)
    return signer, load_certificates(directory / "ca.cert.pem")


@pytest.fixture(scope="module")
def other_keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Signer, list[x509.Certificate]]:
    directory = tmp_path_factory.mktemp("other")
    return dev_signer(directory), load_certificates(directory / "ca.cert.pem")


def _elm() -> dict[str, Any]:
    return render_elm(make_input(he_sample()))


# --- keys -----------------------------------------------------------------------------


def test_dev_keys_are_made_once_and_private(tmp_path: Path) -> None:
    paths = generate_dev_keys(tmp_path)
    first = paths.key.read_bytes()
    assert generate_dev_keys(tmp_path).key.read_bytes() == first
    assert paths.key.stat().st_mode & 0o077 == 0
    signer = load_signer(paths.key, paths.chain)
    assert signer.alg == "ES256"
    assert isinstance(signer.key, ec.EllipticCurvePrivateKey)
    assert isinstance(signer.key.curve, ec.SECP256R1)
    assert signer.organization_identifier() == "NTRHU-MCHUB-DEV"
    assert len(signer.chain) == 2


def test_key_must_match_certificate(keys: Any, other_keys: Any) -> None:
    from hub.errors import ConfigurationError

    with pytest.raises(ConfigurationError):
        Signer(keys[0].key, other_keys[0].chain)


# --- ELM seal ---------------------------------------------------------------------------


def test_seal_round_trip(keys: Any) -> None:
    signer, anchors = keys
    doc = _elm()
    signed_at = datetime.now(UTC).replace(microsecond=0)
    sealed = seal(doc, signer, signed_at=signed_at)
    header = json.loads(b64url_decode(sealed["signatures"][0]["protected"]))
    # JAdES baseline B (ETSI TS 119 182-1): iat as the claimed signing time (no sigT after
    # 2025-07-15), exactly one signing-certificate reference, crit only for b64 (RFC 7797)
    assert (
        header["alg"] == "ES256"
        and header["b64"] is False
        and header["iat"] == int(signed_at.timestamp())
        and "sigT" not in header
    )
    assert header["crit"] == ["b64"] and header["x5t#S256"] == signer.x5t_s256()
    assert "sigX5ts" not in header and "x5t#o" not in header
    assert header["x5c"] == signer.x5c() and header["typ"] == "jose+json"
    info = verify_seal(sealed, anchors, now=signed_at + timedelta(days=1))
    assert info.credential == doc and info.signed_at == signed_at
    # the sealed payload is readable as-is and is still a conforming EDC credential
    assert validate_edc(json.loads(sealed["payload"])).conforms


def _reheader(
    sealed: dict[str, Any], signer: Signer, change: dict[str, Any], drop: tuple[str, ...] = ()
) -> dict[str, Any]:
    """``sealed`` re-signed by ``signer`` with its protected header changed."""
    from hub.crypto.jose import sign

    header = json.loads(b64url_decode(sealed["signatures"][0]["protected"]))
    header.update(change)
    for name in drop:
        header.pop(name, None)
    protected = b64url(json.dumps(header).encode())
    signature = sign(signer, protected.encode() + b"." + sealed["payload"].encode("utf-8"))
    return {
        "payload": sealed["payload"],
        "signatures": [{"protected": protected, "signature": b64url(signature)}],
    }


def test_older_sigt_seals_still_verify(keys: Any) -> None:
    """Seals of earlier hub versions (sigT, crit [b64, sigT]) keep verifying."""
    signer, anchors = keys
    sealed = seal(_elm(), signer)
    older = _reheader(
        sealed, signer, {"sigT": "2025-03-01T10:00:00Z", "crit": ["b64", "sigT"]}, ("iat",)
    )
    now = datetime(2025, 3, 2, tzinfo=UTC)
    with pytest.raises(VerificationError, match="certificate-expired"):
        verify_seal(older, anchors, now=now)  # the test CA did not exist in 2025
    later = signer.certificate.not_valid_before_utc + timedelta(hours=1)
    older = _reheader(sealed, signer, {"sigT": later.strftime("%Y-%m-%dT%H:%M:%SZ")}, ("iat",))
    info = verify_seal(older, anchors, now=later + timedelta(days=1))
    assert info.signed_at == later.replace(microsecond=0)


@pytest.mark.parametrize(
    ("change", "drop", "reason"),
    [
        ({"sigT": "2026-01-01T00:00:00Z"}, (), "both iat and sigT"),
        ({"iat": "1700000000"}, (), "not a NumericDate"),
        ({"iat": True}, (), "not a NumericDate"),
        ({}, ("iat",), "missing iat"),
        ({"crit": ["b64", "zzz"]}, (), "unsupported critical"),
        ({"crit": []}, (), "b64 false must be listed in crit"),
    ],
)
def test_malformed_signing_time_and_crit(
    keys: Any, change: dict[str, Any], drop: tuple[str, ...], reason: str
) -> None:
    signer, anchors = keys
    bad = _reheader(seal(_elm(), signer), signer, change, drop)
    with pytest.raises(VerificationError, match=reason) as err:
        verify_seal(bad, anchors)
    assert err.value.code == "malformed"


def test_seal_in_the_future_is_rejected(keys: Any) -> None:
    signer, anchors = keys
    moment = datetime.now(UTC).replace(microsecond=0)
    sealed = seal(_elm(), signer, signed_at=moment + timedelta(hours=1))
    with pytest.raises(VerificationError, match="lies in the future"):
        verify_seal(sealed, anchors, now=moment)


def test_tampered_payload_is_rejected(keys: Any) -> None:
    signer, anchors = keys
    sealed = seal(_elm(), signer)
    sealed["payload"] = sealed["payload"].replace('"5 (jeles)"', '"4 (jó)"')
    with pytest.raises(VerificationError) as err:
        verify_seal(sealed, anchors)
    assert err.value.code == "bad-signature"


def test_untrusted_chain_is_rejected(keys: Any, other_keys: Any) -> None:
    sealed = seal(_elm(), other_keys[0])
    with pytest.raises(VerificationError) as err:
        verify_seal(sealed, keys[1])
    assert err.value.code == "untrusted-chain"


def test_swapped_certificate_is_rejected(keys: Any, other_keys: Any) -> None:
    """Signed with one key, presenting another (trusted) certificate: wrong key."""
    signer, anchors = keys
    forged = Signer(other_keys[0].key, other_keys[0].chain)
    sealed = seal(_elm(), forged)
    protected = json.loads(b64url_decode(sealed["signatures"][0]["protected"]))
    protected["x5c"] = signer.x5c()
    protected["x5t#S256"] = signer.x5t_s256()
    sealed["signatures"][0]["protected"] = b64url(json.dumps(protected).encode())
    with pytest.raises(VerificationError) as err:
        verify_seal(sealed, anchors)
    assert err.value.code == "bad-signature"


def test_thumbprint_mismatch_is_rejected(keys: Any, other_keys: Any) -> None:
    signer, anchors = keys
    sealed = seal(_elm(), signer)
    protected = json.loads(b64url_decode(sealed["signatures"][0]["protected"]))
    protected["x5t#S256"] = other_keys[0].x5t_s256()
    sealed["signatures"][0]["protected"] = b64url(json.dumps(protected).encode())
    with pytest.raises(VerificationError) as err:
        verify_seal(sealed, anchors)
    assert err.value.code == "thumbprint-mismatch"


def test_certificate_expired_at_signing_time(keys: Any) -> None:
    signer, anchors = keys
    late = signer.certificate.not_valid_after_utc + timedelta(days=1)
    sealed = seal(_elm(), signer, signed_at=late)
    with pytest.raises(VerificationError) as err:
        verify_seal(sealed, anchors, now=late + timedelta(hours=1))
    assert err.value.code == "certificate-expired"


def test_commissions_sealed_sample_verifies_with_our_code() -> None:
    """Our b64=false signing input matches EDC's real JAdES seal (RS256, adoTst)."""
    path = default_reference_dir() / "elm" / "Sample-MC-Annex1-signed.jsonld"
    sample = json.loads(path.read_text(encoding="utf-8"))
    header = json.loads(b64url_decode(sample["signatures"][0]["protected"]))
    leaf = parse_x5c(header["x5c"])  # pin the leaf: the sample ships no root
    info = verify_seal(sample, leaf)
    assert info.signed_at == datetime(2023, 9, 27, 11, 54, 17, tzinfo=UTC)
    sample["payload"] = sample["payload"].replace("Andromeda", "Andromedb")
    with pytest.raises(VerificationError, match="bad-signature"):
        verify_seal(sample, leaf)


# --- OB3 VC-JWT ---------------------------------------------------------------------------


# sign_vc/verify_vc themselves: tests/unit/credentials/test_ob3_vcjwt.py


def test_verify_credential_reports_reasons(keys: Any, other_keys: Any) -> None:
    signer, anchors = keys
    sealed = json.dumps(seal(_elm(), signer))
    assert verify_credential(sealed, anchors).valid
    token = sign_vc(render_ob3(make_input(he_sample())), signer)
    ok = verify_credential(token, [], key_resolver=lambda kid: signer_jwk(signer))
    assert ok.valid and ok.format == "vc-jwt" and not ok.status_checked
    bad = verify_credential(token, [], key_resolver=lambda kid: signer_jwk(other_keys[0]))
    assert not bad.valid and bad.code == "untrusted-key"  # served key is not the kid's
    assert bad.line().startswith("invalid: untrusted-key")
    bad_seal = verify_credential(sealed, other_keys[1])
    assert not bad_seal.valid and bad_seal.code == "untrusted-chain"
    unsigned = verify_credential(json.dumps(_elm()), anchors)
    assert not unsigned.valid and unsigned.code == "not-signed"
