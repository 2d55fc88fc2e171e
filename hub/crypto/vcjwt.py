"""VC-JWT: Open Badges 3.0 JSON Web Token proofs (OB 3.0 §8.2) of VC 2.0 credentials.

Open Badges 3.0 badges and the W3C Bitstring Status List credentials are signed alike.

JOSE header (§8.2.3; no other header parameters are allowed)::

    {"alg": "ES256" | "RS256", "kid": "<issuer id>/keys/<RFC 7638 thumbprint>", "typ": "JWT"}

``kid`` is a URL that dereferences to the public JWK (§8.5): the hub's issuer server
serves it under the issuer's profile URL, so the key is found from the credential alone.

JWT payload (§8.2.4.1, the VC 2.0 form): the credential JSON itself (no ``vc`` wrapper)
plus the registered claims mapped from it — ``iss`` = ``issuer.id``, ``jti`` = ``id``,
``sub`` = ``credentialSubject.id``, ``nbf`` = ``validFrom`` and ``exp`` = ``validUntil``
(NumericDate, only when the credential has one).

:func:`verify_vc` follows §8.2.6: it dereferences ``kid`` through an injectable key
resolver (:class:`hub.crypto.jwks.HttpKeyResolver` for real use), checks that the
key belongs to the issuer (``kid`` under ``<iss>/keys/``), the signature, the claims
against the credential, and ``nbf``/``exp`` against the clock.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from hub.crypto.jose import compact_json, parse_x5c, sign, validate_chain, verify_with_key
from hub.crypto.jwks import (
    Jwk,
    KeyResolver,
    jwk_public_key,
    key_thumbprint,
    key_url,
    thumbprint,
)
from hub.crypto.keys import Signer, b64url, b64url_decode
from hub.errors import VerificationError

VC_JWT_TYP: Final = "JWT"
#: the algorithms the hub signs with and accepts (OB 3.0 requires RS256 support)
ALGS: Final = frozenset({"ES256", "RS256"})
#: the only JOSE header parameters OB 3.0 §8.2.3 allows (``jwk`` is never produced here)
HEADER_PARAMS: Final = frozenset({"alg", "kid", "typ", "jwk"})
#: registered claims the hub adds to the credential JSON
CLAIMS: Final = ("iss", "jti", "sub", "nbf", "exp")


def issuer_of(credential: dict[str, Any]) -> str | None:
    """The credential's issuer id (``issuer`` as a URL string or an object's ``id``)."""
    issuer = credential.get("issuer")
    if isinstance(issuer, dict):
        issuer = issuer.get("id")
    return issuer if isinstance(issuer, str) and issuer else None


def subject_of(credential: dict[str, Any]) -> str | None:
    """``credentialSubject.id`` (of the single subject), if any."""
    subject = credential.get("credentialSubject")
    if isinstance(subject, dict):
        ident = subject.get("id")
        return ident if isinstance(ident, str) and ident else None
    return None


def numeric_date(value: object, name: str) -> int:
    """An XML Schema dateTime (``validFrom``/``validUntil``) as a JWT NumericDate."""
    try:
        when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"{name} {value!r} is not a date-time") from exc
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp())


def jwt_claims(credential: dict[str, Any]) -> dict[str, Any]:
    """The registered claims OB 3.0 §8.2.4.1 maps from ``credential``.

    Raises ``ValueError`` when a required one cannot be produced (no issuer id,
    ``id``, ``credentialSubject.id`` or ``validFrom``).
    """
    iss, sub, jti = issuer_of(credential), subject_of(credential), credential.get("id")
    missing = [
        n
        for n, v in (
            ("issuer.id", iss),
            ("id", jti),
            ("credentialSubject.id", sub),
            ("validFrom", credential.get("validFrom")),
        )
        if not v
    ]
    if missing:
        raise ValueError(f"an OB 3.0 VC-JWT needs the credential's {', '.join(missing)}")
    claims: dict[str, Any] = {
        "iss": iss,
        "jti": jti,
        "sub": sub,
        "nbf": numeric_date(credential["validFrom"], "validFrom"),
    }
    if credential.get("validUntil") is not None:
        claims["exp"] = numeric_date(credential["validUntil"], "validUntil")
    return claims


def signing_kid(credential: dict[str, Any], signer: Signer) -> str:
    """The default ``kid``: ``<issuer id>/keys/<thumbprint of signer's key>``.

    The issuer id must be an ``http(s)`` URL (the issuer server's profile URL); for any
    other issuer give ``sign_vc`` an explicit ``kid`` URL.
    """
    iss = issuer_of(credential) or ""
    if not iss.startswith(("https://", "http://")):
        raise ValueError(
            f"issuer {iss!r} is not an HTTP(S) URL: pass sign_vc an explicit kid URL that "
            "dereferences to the signing key"
        )
    return key_url(iss, key_thumbprint(signer))


def sign_vc(credential: dict[str, Any], signer: Signer, *, kid: str | None = None) -> str:
    """``credential`` as an OB 3.0 VC-JWT (compact JWS ``header.payload.signature``).

    ``kid`` defaults to :func:`signing_kid` (the issuer's key URL). Status list
    credentials sign the same way: their ``issuer`` is the issuer URL of the credentials
    they serve and ``sub`` their ``credentialSubject.id``.
    """
    head = _header(signer.alg, kid or signing_kid(credential, signer))
    body = b64url(compact_json({**credential, **jwt_claims(credential)}))
    signing_input = f"{head}.{body}".encode("ascii")
    return f"{head}.{body}.{b64url(sign(signer, signing_input))}"


#: encoded headers by (alg, kid): issuers are few, each signs many credentials
_headers: dict[tuple[str, str], str] = {}


def _header(alg: str, kid: str) -> str:
    found = _headers.get((alg, kid))
    if found is None:
        found = b64url(compact_json({"alg": alg, "kid": kid, "typ": VC_JWT_TYP}))
        if len(_headers) > 1024:
            _headers.clear()
        _headers[(alg, kid)] = found
    return found


@dataclass(frozen=True)
class JwtInfo:
    """What a valid VC-JWT tells: the credential (registered claims removed), the claims,
    the header and the signing JWK (with its certificate chain when it carries ``x5c``)."""

    credential: dict[str, Any]
    claims: dict[str, Any]
    header: dict[str, Any]
    jwk: Jwk

    @property
    def kid(self) -> str:
        """The key URL the signature was verified with."""
        return str(self.header["kid"])

    @property
    def certificate(self) -> x509.Certificate | None:
        """The seal certificate the JWK names in ``x5c`` (not verified here), if any."""
        x5c = self.jwk.get("x5c")
        return parse_x5c(x5c)[0] if x5c else None


def key_belongs_to(kid: str, issuer: str) -> bool:
    """Whether ``kid`` is a key URL published under ``issuer``'s profile URL."""
    return issuer.startswith(("https://", "http://")) and kid.startswith(
        issuer.rstrip("/") + "/keys/"
    )


def verify_vc(
    token: str,
    resolve_key: KeyResolver,
    *,
    now: datetime | None = None,
    anchors: Sequence[x509.Certificate] = (),
) -> JwtInfo:
    """Verify an OB 3.0 VC-JWT; raise :class:`VerificationError` with the reason.

    Header: ``typ`` JWT, ``alg`` ES256/RS256, only OB 3.0's parameters, a ``kid`` URL.
    Key: ``resolve_key(kid)``, a public JWK whose thumbprint is the URL's last segment,
    belonging to ``iss`` (``kid`` under ``<iss>/keys/``) — or, for an issuer that is not
    a URL (the ELM sealing organisation's status lists), a JWK whose ``x5c`` chain leads
    to one of ``anchors``. Then the signature, the claims against the credential
    (``iss``, ``sub``, ``jti``, ``nbf``, ``exp``) and ``nbf``/``exp`` against ``now``.
    """
    parts = token.strip().split(".")
    if len(parts) != 3:
        raise VerificationError("malformed", "a VC-JWT has three dot-separated parts")
    try:
        header = json.loads(b64url_decode(parts[0]))
        payload = json.loads(b64url_decode(parts[1]))
        sig = b64url_decode(parts[2])
    except (ValueError, UnicodeDecodeError) as exc:
        raise VerificationError("malformed", f"unreadable JWT part: {exc}") from exc
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise VerificationError("malformed", "JWT header and payload must be JSON objects")
    _check_header(header)
    kid = str(header["kid"])
    alg = str(header["alg"])
    claims = {k: payload[k] for k in CLAIMS if k in payload}
    credential = {k: v for k, v in payload.items() if k not in CLAIMS and k != "iat"}
    iss = claims.get("iss")
    if not isinstance(iss, str) or not iss:
        raise VerificationError("missing-claim", "the JWT has no iss claim")
    owned = key_belongs_to(kid, iss)
    if not owned and iss.startswith(("https://", "http://")):
        # refused before anything is fetched: a forged token cannot make us call its URL
        raise VerificationError(
            "untrusted-key", f"key {kid} is not published under the issuer {iss}"
        )
    jwk = _resolve(resolve_key, kid)
    if not owned and not _chains_to(jwk, anchors, now):
        raise VerificationError(
            "untrusted-key", f"key {kid} of issuer {iss} does not chain to a trust anchor"
        )
    try:
        key = jwk_public_key(jwk)
    except (KeyError, ValueError) as exc:
        raise VerificationError("key-unavailable", f"key {kid} is not a usable JWK: {exc}") from exc
    verify_with_key(
        key, alg, f"{parts[0]}.{parts[1]}".encode("ascii"), sig, owner="the issuer's key"
    )
    _check_claims(claims, credential, now or datetime.now(UTC))
    return JwtInfo(credential, claims, header, jwk)


def _check_header(header: dict[str, Any]) -> None:
    if header.get("typ") != VC_JWT_TYP:
        raise VerificationError("malformed", f"typ {header.get('typ')!r} is not {VC_JWT_TYP!r}")
    alg = header.get("alg")
    if alg not in ALGS:
        raise VerificationError("unsupported-alg", f"alg {alg!r} is not accepted")
    extra = sorted(set(header) - HEADER_PARAMS)
    if extra:
        raise VerificationError("malformed", f"header parameters {extra} are not allowed")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid.startswith(("https://", "http://")):
        raise VerificationError("malformed", f"kid {kid!r} is not a key URL")


def _resolve(resolve_key: KeyResolver, kid: str) -> Jwk:
    jwk = resolve_key(kid)
    if "d" in jwk:
        raise VerificationError("untrusted-key", f"key {kid} publishes a private key")
    try:
        expected = thumbprint(jwk)
    except (KeyError, ValueError) as exc:
        raise VerificationError("key-unavailable", f"key {kid} is not a usable JWK: {exc}") from exc
    if kid.rstrip("/").rsplit("/", 1)[-1] != expected:
        raise VerificationError(
            "untrusted-key", f"the key served at {kid} does not have that thumbprint"
        )
    return jwk


def _chains_to(jwk: Jwk, anchors: Sequence[x509.Certificate], now: datetime | None) -> bool:
    if not anchors or not jwk.get("x5c"):
        return False
    try:
        chain = parse_x5c(jwk["x5c"])
        validate_chain(chain, anchors, now or datetime.now(UTC))
        spki = serialization.PublicFormat.SubjectPublicKeyInfo
        der = serialization.Encoding.DER
        return bool(
            chain[0].public_key().public_bytes(der, spki)
            == jwk_public_key(jwk).public_bytes(der, spki)
        )
    except (VerificationError, ValueError, KeyError):
        return False


def _check_claims(claims: dict[str, Any], credential: dict[str, Any], moment: datetime) -> None:
    """OB 3.0 §8.2.6.1: each claim present and equal to its credential property."""
    for claim, expected, what in (
        ("iss", issuer_of(credential), "issuer.id"),
        ("sub", subject_of(credential), "credentialSubject.id"),
        ("jti", credential.get("id"), "id"),
    ):
        value = claims.get(claim)
        if value is None:
            raise VerificationError("missing-claim", f"the JWT has no {claim} claim")
        if value != expected:
            raise VerificationError("claim-mismatch", f"{claim} {value!r} is not the {what}")
    nbf = claims.get("nbf")
    if not isinstance(nbf, int | float) or isinstance(nbf, bool):
        raise VerificationError("missing-claim", "the JWT has no numeric nbf claim")
    exp = claims.get("exp")
    try:
        if nbf != numeric_date(credential.get("validFrom"), "validFrom"):
            raise VerificationError("claim-mismatch", "nbf is not the credential's validFrom")
        until = credential.get("validUntil")
        if (exp is None) != (until is None) or (
            until is not None and exp != numeric_date(until, "validUntil")
        ):
            raise VerificationError("claim-mismatch", "exp is not the credential's validUntil")
    except ValueError as exc:
        raise VerificationError("malformed", str(exc)) from exc
    stamp = moment.timestamp()
    if nbf > stamp:
        raise VerificationError("not-valid-now", f"validFrom is {credential['validFrom']}")
    if exp is not None and exp <= stamp:
        raise VerificationError("not-valid-now", f"validUntil is {credential['validUntil']}")
