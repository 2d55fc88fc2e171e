"""OB 3.0 §8.2 VC-JWT: the exact header and claims, and what verify_vc refuses.

Keys are resolved offline here (a resolver standing for the issuer server); the HTTP
path and an independent JOSE library are in tests/integration/credentials.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from hub.crypto.devca import dev_signer
from hub.crypto.jose import compact_json, sign
from hub.crypto.jwks import (
    Jwk,
    key_url,
    public_jwk,
    publish_key,
    published_keys,
    signer_jwk,
    thumbprint,
)
from hub.crypto.keys import Signer, b64url, b64url_decode, load_certificates
from hub.crypto.pseudonym import SECRET_ENV, SECRET_FILE, load_subject_secret
from hub.crypto.vcjwt import jwt_claims, sign_vc, verify_vc
from hub.errors import VerificationError
from hub.render.ob3 import render_ob3, subject_id
from tests.unit.render.render_support import he_sample, make_input

pytestmark = pytest.mark.unit

NOW = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Signer, list[x509.Certificate]]:
    directory = tmp_path_factory.mktemp("keys")
    return dev_signer(directory), load_certificates(directory / "ca.cert.pem")


@pytest.fixture(scope="module")
def other(tmp_path_factory: pytest.TempPathFactory) -> Signer:
    return dev_signer(tmp_path_factory.mktemp("other"))


def served(*signers: Signer, base: str = "http://localhost:8080") -> Callable[[str], Jwk]:
    """What the issuer server at ``base`` would answer for a kid URL."""
    jwks = {signer_jwk(s)["kid"]: signer_jwk(s) for s in signers}

    def resolve(kid: str) -> Jwk:
        tail = kid.rsplit("/", 1)[-1]
        if not kid.startswith(base + "/v1/issuers/") or tail not in jwks:
            raise VerificationError("key-unavailable", f"404 {kid}")
        return jwks[tail]

    return resolve


def _badge() -> dict[str, Any]:
    return render_ob3(make_input(he_sample()))


def _parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    head, body, _ = token.split(".")
    return json.loads(b64url_decode(head)), json.loads(b64url_decode(body))


def _resign(header: dict[str, Any], payload: dict[str, Any], signer: Signer) -> str:
    head, body = b64url(compact_json(header)), b64url(compact_json(payload))
    return f"{head}.{body}.{b64url(sign(signer, f'{head}.{body}'.encode()))}"


# --- format -----------------------------------------------------------------------------


def test_header_and_claims_are_exactly_what_ob3_section_8_2_says(keys: Any) -> None:
    signer, _ = keys
    badge = _badge()
    header, payload = _parts(sign_vc(badge, signer))
    issuer = badge["issuer"]["id"]
    assert header == {
        "alg": "ES256",
        "kid": f"{issuer}/keys/{signer_jwk(signer)['kid']}",
        "typ": "JWT",
    }
    assert len(b64url(compact_json(header))) < 300  # joserfc's default limits: no chain
    assert payload["iss"] == issuer
    assert payload["sub"] == badge["credentialSubject"]["id"]
    assert payload["jti"] == badge["id"]
    valid_from = datetime.fromisoformat(badge["validFrom"])
    assert payload["nbf"] == int(valid_from.timestamp())
    assert "exp" not in payload and "vc" not in payload  # VC 2.0: the credential itself
    assert {k: v for k, v in payload.items() if k not in ("iss", "sub", "jti", "nbf")} == badge


def test_exp_is_valid_until(keys: Any) -> None:
    signer, _ = keys
    badge = {**_badge(), "validUntil": "2030-01-01T00:00:00Z"}
    _, payload = _parts(sign_vc(badge, signer))
    assert payload["exp"] == int(datetime(2030, 1, 1, tzinfo=UTC).timestamp())
    info = verify_vc(sign_vc(badge, signer), served(signer), now=NOW)
    assert info.credential == badge and info.claims["exp"] == payload["exp"]


def test_a_credential_without_subject_id_cannot_be_signed(keys: Any) -> None:
    badge = _badge()
    del badge["credentialSubject"]["id"]
    with pytest.raises(ValueError, match=r"credentialSubject\.id"):
        sign_vc(badge, keys[0])


def test_a_non_url_issuer_needs_an_explicit_kid(keys: Any) -> None:
    badge = {**_badge(), "issuer": "urn:x:y"}
    with pytest.raises(ValueError, match="kid"):
        sign_vc(badge, keys[0])


def test_round_trip_returns_the_credential(keys: Any) -> None:
    signer, _ = keys
    badge = _badge()
    info = verify_vc(sign_vc(badge, signer), served(signer), now=NOW)
    assert info.credential == badge
    assert info.kid.endswith(signer_jwk(signer)["kid"]) and "d" not in info.jwk
    assert info.certificate == signer.certificate  # x5c of the served JWK


# --- refusals -----------------------------------------------------------------------------


def _code(token: str, resolve: Callable[[str], Jwk], **kw: Any) -> str:
    with pytest.raises(VerificationError) as err:
        verify_vc(token, resolve, now=kw.pop("now", NOW), **kw)
    return err.value.code


def test_tampered_payload_is_refused(keys: Any) -> None:
    signer, _ = keys
    head, body, sig = sign_vc(_badge(), signer).split(".")
    payload = json.loads(b64url_decode(body))
    payload["credentialSubject"]["result"][0]["value"] = "2"
    assert _code(f"{head}.{b64url(compact_json(payload))}.{sig}", served(signer)) == (
        "bad-signature"
    )


def test_kid_on_another_host_is_refused(keys: Any, other: Signer) -> None:
    """A forger serves their own key from their own host: the kid is not the issuer's."""
    badge = _badge()
    forged = _resign(
        {
            "alg": "ES256",
            "kid": key_url(
                "https://evil.example/v1/issuers/HU-FI/FI31457", signer_jwk(other)["kid"]
            ),
            "typ": "JWT",
        },
        {**badge, **jwt_claims(badge)},
        other,
    )
    assert _code(forged, served(other, base="https://evil.example")) == "untrusted-key"

    def never(kid: str) -> Jwk:
        raise AssertionError(f"fetched {kid}")  # refused before any fetch of its URL

    assert _code(forged, never) == "untrusted-key"


def test_key_served_under_a_kid_must_have_that_thumbprint(keys: Any, other: Signer) -> None:
    signer, _ = keys
    token = sign_vc(_badge(), signer)
    assert _code(token, lambda kid: signer_jwk(other)) == "untrusted-key"


def test_expired_and_not_yet_valid_are_refused(keys: Any) -> None:
    signer, _ = keys
    expired = sign_vc({**_badge(), "validUntil": "2026-01-01T00:00:00Z"}, signer)
    assert _code(expired, served(signer)) == "not-valid-now"
    future = sign_vc(_badge(), signer)
    assert _code(future, served(signer), now=datetime(2020, 1, 1, tzinfo=UTC)) == "not-valid-now"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        (lambda h, p: h.update(typ="vc+jwt"), "malformed"),
        (lambda h, p: h.update(alg="PS256"), "unsupported-alg"),
        (lambda h, p: h.update(x5c=["AAAA"]), "malformed"),  # no other headers (§8.2.3)
        (lambda h, p: h.update(kid=h["kid"].rsplit("/", 1)[-1]), "malformed"),  # bare kid
        (lambda h, p: p.pop("jti"), "missing-claim"),
        (lambda h, p: p.pop("sub"), "missing-claim"),
        (lambda h, p: p.pop("iss"), "missing-claim"),
        (lambda h, p: p.pop("nbf"), "missing-claim"),
        (
            lambda h, p: p.update(jti="urn:uuid:00000000-0000-0000-0000-000000000000"),
            "claim-mismatch",
        ),
        (
            lambda h, p: p.update(sub="urn:uuid:00000000-0000-0000-0000-000000000000"),
            "claim-mismatch",
        ),
        (lambda h, p: p.update(nbf=p["nbf"] - 1), "claim-mismatch"),
        (lambda h, p: p.update(exp=p["nbf"] + 10**9), "claim-mismatch"),  # no validUntil
    ],
)
def test_header_and_claim_rules(keys: Any, change: Any, code: str) -> None:
    signer, _ = keys
    header, payload = _parts(sign_vc(_badge(), signer))
    change(header, payload)
    assert _code(_resign(header, payload, signer), served(signer)) == code


def test_iss_must_own_the_kid(keys: Any) -> None:
    """A key URL under another awarding body does not sign for this one."""
    signer, _ = keys
    header, payload = _parts(sign_vc(_badge(), signer))
    header["kid"] = key_url(
        "http://localhost:8080/v1/issuers/HU-OM/203517", signer_jwk(signer)["kid"]
    )
    assert _code(_resign(header, payload, signer), served(signer)) == "untrusted-key"


def test_non_url_issuer_is_trusted_only_through_the_x5c_chain(keys: Any, other: Signer) -> None:
    """ELM status lists: issuer urn:epass:org:…, key under the sealing organisation."""
    signer, anchors = keys
    credential = {
        "id": "http://localhost:8080/v1/status/9",
        "issuer": "urn:epass:org:1",
        "validFrom": "2026-01-01T00:00:00Z",
        "credentialSubject": {"id": "http://localhost:8080/v1/status/9#list"},
    }
    owner = "http://localhost:8080/v1/issuers/eidas/NTRHU-MCHUB-DEV"
    token = sign_vc(credential, signer, kid=key_url(owner, signer_jwk(signer)["kid"]))
    now = datetime.now(UTC)  # the dev certificates are valid from their making on
    assert verify_vc(token, served(signer), now=now, anchors=anchors).credential == credential
    assert _code(token, served(signer), now=now) == "untrusted-key"  # no anchor given
    forged = sign_vc(credential, other, kid=key_url(owner, signer_jwk(other)["kid"]))
    assert _code(forged, served(other), now=now, anchors=anchors) == "untrusted-key"


# --- keys, subject ids --------------------------------------------------------------------


def test_rfc7638_thumbprint_example() -> None:
    """RFC 7638 section 3.1's example key and thumbprint."""
    jwk = {
        "kty": "RSA",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6"
        "tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65"
        "YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrd"
        "kt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqD"
        "Kgw",
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29",
    }
    assert thumbprint(jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_published_keys_keep_the_earlier_ones(tmp_path: Path, keys: Any, other: Signer) -> None:
    signer, _ = keys
    assert publish_key(tmp_path, signer) and not publish_key(tmp_path, signer)
    assert publish_key(tmp_path, other)
    found = published_keys(tmp_path)
    assert [k["kid"] for k in found] == [signer_jwk(other)["kid"], signer_jwk(signer)["kid"]]
    assert all("d" not in k for k in found)
    assert found[1] == {**public_jwk(signer.key.public_key()), **signer_jwk(signer)}


def test_subject_id_is_stable_per_issuer_and_unlinkable_across(tmp_path: Path) -> None:
    secret = b"s" * 32
    a = "https://hub.example/v1/issuers/HU-FI/FI31457"
    b = "https://hub.example/v1/issuers/HU-OM/203517"
    one = subject_id(secret, a, "77721222107")
    assert one == subject_id(secret, a, "77721222107")
    assert one != subject_id(secret, b, "77721222107")
    assert one != subject_id(b"t" * 32, a, "77721222107")
    assert one != subject_id(secret, a, "77721222108")
    value = one.removeprefix("urn:uuid:")
    assert value[14] == "8" and value[19] in "89ab"  # RFC 9562 version 8, variant 10


def test_pseudonym_secret_is_made_once_private_or_taken_from_env(tmp_path: Path) -> None:
    first = load_subject_secret(tmp_path, env={})
    assert len(first) == 32 and load_subject_secret(tmp_path, env={}) == first
    assert (tmp_path / SECRET_FILE).stat().st_mode & 0o777 == 0o600
    assert load_subject_secret(tmp_path, env={SECRET_ENV: "x" * 20}) == b"x" * 20


def test_an_rsa_seal_signs_rs256_which_every_ob3_verifier_supports() -> None:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rsa seal")])
    moment = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(moment)
        .not_valid_after(moment.replace(year=moment.year + 1))
        .sign(key, hashes.SHA256())
    )
    signer = Signer(key, (cert,))
    badge = _badge()
    token = sign_vc(badge, signer)
    header, _ = _parts(token)
    assert header["alg"] == "RS256" and signer_jwk(signer)["kty"] == "RSA"
    assert verify_vc(token, served(signer), now=NOW).credential == badge
