"""JOSE primitives shared by the JAdES seal and the VC-JWT: raw signatures in JWS form,
``x5c`` parsing and X.509 chain validation against a trust anchor, and the typed
:class:`VerificationError` that says why something is invalid."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from hub import wire
from hub.crypto.keys import Signer, cert_thumbprint
from hub.errors import VerificationError

SUPPORTED_ALGS: Final = frozenset({"ES256", "RS256", "PS256"})




def compact_json(value: Any) -> bytes:
    """``json.dumps(value, ensure_ascii=False, separators=(",", ":"))`` in UTF-8, exactly:
    signatures are over these bytes (:func:`hub.wire.standard_json`)."""
    return wire.standard_json(value)


def sign(signer: Signer, signing_input: bytes) -> bytes:
    """A JWS signature over ``signing_input`` (ES256 as raw r||s, RS256 PKCS#1 v1.5)."""
    key = signer.key
    if isinstance(key, ec.EllipticCurvePrivateKey):
        r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())


def verify_signature(cert: x509.Certificate, alg: str, signing_input: bytes, sig: bytes) -> None:
    """Check a JWS signature with the certificate's key; raise ``bad-signature`` if wrong."""
    verify_with_key(cert.public_key(), alg, signing_input, sig, owner="the certificate's key")


def verify_with_key(
    key: object, alg: str, signing_input: bytes, sig: bytes, *, owner: str = "the key"
) -> None:
    """Check a JWS signature (ES256, RS256, PS256) with a public key; raise
    ``unsupported-alg`` when ``alg`` does not fit the key, ``bad-signature`` if wrong."""
    try:
        if alg == "ES256" and isinstance(key, ec.EllipticCurvePublicKey):
            if len(sig) != 64:
                raise InvalidSignature
            der = encode_dss_signature(
                int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
            )
            key.verify(der, signing_input, ec.ECDSA(hashes.SHA256()))
        elif alg == "RS256" and isinstance(key, rsa.RSAPublicKey):
            key.verify(sig, signing_input, padding.PKCS1v15(), hashes.SHA256())
        elif alg == "PS256" and isinstance(key, rsa.RSAPublicKey):
            pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
            key.verify(sig, signing_input, pss, hashes.SHA256())
        else:
            raise VerificationError("unsupported-alg", f"alg {alg} does not fit {owner}'s type")
    except InvalidSignature:
        raise VerificationError(
            "bad-signature",
            f"signature does not verify with {owner}: the content was altered "
            "or it was signed with another key",
        ) from None


def parse_x5c(x5c: object) -> list[x509.Certificate]:
    """The ``x5c`` header (standard base64 DER, leaf first) as certificates."""
    if not isinstance(x5c, list) or not x5c or not all(isinstance(c, str) for c in x5c):
        raise VerificationError("missing-certificate", "no x5c certificate chain in the header")
    try:
        return [x509.load_der_x509_certificate(base64.b64decode(c, validate=True)) for c in x5c]
    except (ValueError, binascii.Error) as exc:
        raise VerificationError("malformed", f"x5c holds an unreadable certificate: {exc}") from exc


def check_thumbprint(header: dict[str, object], leaf: x509.Certificate) -> None:
    """``x5t#S256``, when present, must be the leaf certificate's SHA-256 thumbprint."""
    thumb = header.get("x5t#S256")
    if thumb is not None and thumb != cert_thumbprint(leaf):
        raise VerificationError(
            "thumbprint-mismatch", "x5t#S256 does not match the leaf certificate in x5c"
        )


def validate_chain(
    chain: Sequence[x509.Certificate],
    anchors: Sequence[x509.Certificate],
    at: datetime | None = None,
) -> None:
    """Check that ``chain`` (leaf first) leads to one of ``anchors`` and was valid ``at``.

    Each certificate must be directly issued (name and signature) by the next one, every
    issuer must be a CA allowed to sign certificates, the leaf must allow digital
    signatures, and all must be within their validity period at ``at`` (default: now).
    The chain ends at a certificate equal to an anchor or issued by one.
    """
    moment = at or datetime.now(UTC)
    if not anchors:
        raise VerificationError("untrusted-chain", "no trust anchor given")
    leaf = chain[0]
    _check_leaf_usage(leaf)
    anchor_fps = {a.fingerprint(hashes.SHA256()) for a in anchors}
    path = list(chain)
    for i, cert in enumerate(path):
        _check_validity(cert, moment)
        if cert.fingerprint(hashes.SHA256()) in anchor_fps:
            return
        if i + 1 < len(path):
            _check_issued_by(cert, path[i + 1])
    last = path[-1]
    for anchor in anchors:
        if anchor.subject == last.issuer:
            _check_validity(anchor, moment)
            _check_issued_by(last, anchor)
            return
    raise VerificationError(
        "untrusted-chain",
        f"certificate chain does not lead to the trust anchor ({last.issuer.rfc4514_string()})",
    )


def _check_issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> None:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature) as exc:
        raise VerificationError(
            "untrusted-chain",
            f"{cert.subject.rfc4514_string()} is not validly issued by "
            f"{issuer.subject.rfc4514_string()}",
        ) from exc
    try:
        bc = issuer.extensions.get_extension_for_class(x509.BasicConstraints).value
        ku = issuer.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        raise VerificationError(
            "untrusted-chain", f"issuer {issuer.subject.rfc4514_string()} is not marked as a CA"
        ) from None
    if not bc.ca or not ku.key_cert_sign:
        raise VerificationError(
            "untrusted-chain", f"issuer {issuer.subject.rfc4514_string()} may not sign certificates"
        )


def _check_validity(cert: x509.Certificate, moment: datetime) -> None:
    if not cert.not_valid_before_utc <= moment <= cert.not_valid_after_utc:
        raise VerificationError(
            "certificate-expired",
            f"certificate {cert.subject.rfc4514_string()} was not valid at {moment.isoformat()}",
        )


def _check_leaf_usage(leaf: x509.Certificate) -> None:
    try:
        ku = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return
    if not (ku.digital_signature or ku.content_commitment):
        raise VerificationError("not-a-seal-certificate", "leaf certificate may not sign documents")
