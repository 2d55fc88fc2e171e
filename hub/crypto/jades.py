"""JAdES baseline B seal of ELM credentials (ETSI TS 119 182-1): a JWS JSON serialisation
with an X.509 chain.

The sealed document is ``{"payload": "<credential JSON>", "signatures": [{"protected",
"signature"}]}``, the form of the Commission's signed sample. The payload is unencoded
(RFC 7797 ``b64: false``), so the credential is readable as-is; the signing input is
``BASE64URL(protected) || "." || UTF-8(payload)``. The protected header carries ``alg``,
``typ: jose+json``, ``cty``, ``b64: false``, ``crit: ["b64"]``, ``iat`` (claimed signing
time as a NumericDate: JAdES signatures made from 2025-07-15 on must use ``iat``, not
``sigT``), ``x5t#S256`` (the one signing-certificate reference JAdES-BASELINE-B allows)
and ``x5c`` (leaf first). ``crit`` lists only ``b64``: RFC 7797 requires it there, and
RFC 7515 headers (``x5t#S256``, ``x5c`` …) must not be listed; this is what the EU DSS
library writes and accepts as JAdES-BASELINE-B.

:func:`verify_seal` also accepts older seals with ``sigT`` (and the Commission's sample),
and checks the signing certificate's revocation when given a check
(:func:`hub.crypto.pki.crl_revocation_check`).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from hub.crypto.jose import (
    SUPPORTED_ALGS,
    check_thumbprint,
    compact_json,
    parse_x5c,
    sign,
    validate_chain,
    verify_signature,
)
from hub.crypto.keys import Signer, b64url, b64url_decode
from hub.crypto.tsp import Timestamp
from hub.errors import VerificationError

JADES_TYP: Final = "jose+json"
ELM_CTY: Final = "ld+json"
CRIT: Final = ("b64",)
#: critical headers this verifier understands; ``sigT`` is the signing time of seals made
#: before 2025-07-15 (and of earlier hub versions); ``adoTst`` (JAdES archive timestamps,
#: used by EDC's own seals) is accepted but its timestamp tokens are not validated
KNOWN_CRIT: Final = frozenset({"b64", "iat", "sigT", "x5t#S256", "adoTst"})

#: checks the signing certificate (first argument) against its issuer's revocation
#: information at the given time; raises :class:`VerificationError` when not good
RevocationCheck = Callable[[x509.Certificate, x509.Certificate, datetime], None]


def seal(
    credential: dict[str, Any],
    signer: Signer,
    *,
    signed_at: datetime | None = None,
    timestamper: Callable[[bytes], Timestamp] | None = None,
) -> dict[str, Any]:
    """Seal an ELM credential; returns the JWS JSON document (general serialisation).

    With a ``timestamper`` (e.g. :func:`hub.crypto.tsp.http_timestamper` of a TSA)
    the seal is JAdES-BASELINE-T: the signature time-stamp (``sigTst``) of
    ``BASE64URL(signature)`` is added as an ``etsiU`` component of the unprotected header.
    """
    moment = (signed_at or datetime.now(UTC)).astimezone(UTC)
    protected = _protected_header(signer, moment.replace(microsecond=0))
    payload = compact_json(credential)
    signature = b64url(sign(signer, protected.encode("ascii") + b"." + payload))
    entry: dict[str, Any] = {"protected": protected, "signature": signature}
    if timestamper is not None:
        entry["header"] = signature_timestamp_header(timestamper(signature.encode("ascii")))
    return {"payload": payload.decode("utf-8"), "signatures": [entry]}


def signature_timestamp_header(stamp: Timestamp) -> dict[str, Any]:
    """The unprotected header carrying a signature time-stamp (ETSI TS 119 182-1 5.3.4):
    ``{"etsiU": [BASE64URL({"sigTst": {"tstTokens": [{"val": BASE64(token)}]}})]}``."""
    component = {"sigTst": {"tstTokens": [{"val": base64.b64encode(stamp.token).decode()}]}}
    return {"etsiU": [b64url(compact_json(component))]}


#: the last protected header written: (signer, signing second, header); seals in the
#: same second by the same signer share it
_last_header: tuple[Signer, datetime, str] | None = None


def _protected_header(signer: Signer, second: datetime) -> str:
    """The base64url protected header of a seal by ``signer`` at ``second`` (UTC)."""
    global _last_header
    last = _last_header
    if last is not None and last[0] is signer and last[1] == second:
        return last[2]
    header = {
        "alg": signer.alg,
        "typ": JADES_TYP,
        "cty": ELM_CTY,
        "b64": False,
        "crit": list(CRIT),
        "iat": int(second.timestamp()),
        "x5t#S256": signer.x5t_s256(),
        "x5c": signer.x5c(),
    }
    # every header value is ASCII, so this is also what ensure_ascii=True would write
    protected = b64url(compact_json(header))
    _last_header = (signer, second, protected)
    return protected


@dataclass(frozen=True)
class SealInfo:
    """What a valid seal tells: the credential, the signer's certificate, the signing time."""

    credential: dict[str, Any]
    certificate: x509.Certificate
    signed_at: datetime
    header: dict[str, Any]


def verify_seal(
    document: dict[str, Any],
    anchors: Sequence[x509.Certificate],
    *,
    now: datetime | None = None,
    revocation: RevocationCheck | None = None,
) -> SealInfo:
    """Verify a sealed ELM credential; raise :class:`VerificationError` with the reason.

    Checks the JWS structure and critical headers, ``x5t#S256`` against the leaf, the
    signature with the leaf's key, and the chain against ``anchors`` at the signing time
    (``iat``, or ``sigT`` of older seals; not both; it must not lie in the future). With a
    ``revocation`` check, the signing certificate is checked at ``now`` (a revoked seal
    certificate fails whenever it was revoked: a baseline B seal has no proof of when it
    was made); a leaf that is itself a trust anchor is not checked.
    """
    payload = document.get("payload")
    sigs = document.get("signatures")
    if not isinstance(payload, str) or not isinstance(sigs, list) or len(sigs) != 1:
        raise VerificationError("malformed", "expected a JWS JSON document with one signature")
    entry = sigs[0]
    if not isinstance(entry, dict):
        raise VerificationError("malformed", "signature entry is not an object")
    protected = entry.get("protected")
    signature = entry.get("signature")
    if not isinstance(protected, str) or not isinstance(signature, str):
        raise VerificationError("malformed", "signature entry lacks protected or signature")
    try:
        header = json.loads(b64url_decode(protected))
        sig = b64url_decode(signature)
    except (ValueError, UnicodeDecodeError) as exc:
        raise VerificationError(
            "malformed", f"unreadable protected header or signature: {exc}"
        ) from exc
    if not isinstance(header, dict):
        raise VerificationError("malformed", "protected header is not a JSON object")
    alg = header.get("alg")
    if alg not in SUPPORTED_ALGS:
        raise VerificationError("unsupported-alg", f"alg {alg!r} is not accepted")
    crit = header.get("crit") or []
    unknown = [c for c in crit if c not in KNOWN_CRIT]
    if unknown:
        raise VerificationError("malformed", f"unsupported critical header(s): {unknown}")
    b64 = header.get("b64", True)
    if b64 is False and "b64" not in crit:
        raise VerificationError("malformed", "b64 false must be listed in crit")
    signed_at = _signing_time(header)
    moment = now or datetime.now(UTC)
    if signed_at > moment:
        raise VerificationError(
            "malformed", f"signing time {signed_at.isoformat()} lies in the future"
        )
    chain = parse_x5c(header.get("x5c"))
    check_thumbprint(header, chain[0])
    payload_bytes = payload.encode("utf-8") if b64 is False else payload.encode("ascii")
    verify_signature(chain[0], str(alg), protected.encode("ascii") + b"." + payload_bytes, sig)
    validate_chain(chain, anchors, signed_at)
    if revocation is not None:
        issuer = _issuer_of(chain[0], [*chain[1:], *anchors], anchors)
        if issuer is not None:
            revocation(chain[0], issuer, moment)
    try:
        credential = json.loads(payload if b64 is False else b64url_decode(payload))
    except ValueError as exc:
        raise VerificationError("malformed", f"payload is not JSON: {exc}") from exc
    if not isinstance(credential, dict):
        raise VerificationError("malformed", "payload is not a JSON object")
    return SealInfo(credential, chain[0], signed_at, header)


def _issuer_of(
    leaf: x509.Certificate,
    candidates: Sequence[x509.Certificate],
    anchors: Sequence[x509.Certificate],
) -> x509.Certificate | None:
    """The certificate that issued ``leaf`` (None when the leaf is itself an anchor)."""
    if any(leaf == anchor for anchor in anchors):
        return None
    for candidate in candidates:
        if candidate.subject == leaf.issuer:
            try:
                leaf.verify_directly_issued_by(candidate)
            except (ValueError, TypeError, InvalidSignature):
                continue
            return candidate
    return None


def _signing_time(header: dict[str, Any]) -> datetime:
    """The claimed signing time: ``iat`` (NumericDate) or, in older seals, ``sigT``."""
    iat, sig_t = header.get("iat"), header.get("sigT")
    if iat is not None and sig_t is not None:
        raise VerificationError("malformed", "both iat and sigT given as the signing time")
    if iat is None:
        return _sig_time(sig_t)
    if isinstance(iat, bool) or not isinstance(iat, int | float):
        raise VerificationError("malformed", f"iat {iat!r} is not a NumericDate")
    try:
        return datetime.fromtimestamp(iat, UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise VerificationError("malformed", f"iat {iat!r} is out of range") from exc


def _sig_time(value: object) -> datetime:
    if not isinstance(value, str):
        raise VerificationError("malformed", "missing iat (signing time)")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise VerificationError("malformed", f"sigT {value!r} is not a date-time") from exc
    if moment.tzinfo is None:
        raise VerificationError("malformed", "sigT has no time zone")
    return moment
