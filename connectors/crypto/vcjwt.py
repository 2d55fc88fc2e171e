"""VC-JWT: JOSE compact signatures of VC 2.0 credentials (Open Badges 3.0, status lists).

Follows W3C VC-JOSE-COSE: the JWT payload *is* the credential JSON (no ``vc`` wrapper),
the header says ``typ: vc+jwt`` and ``cty: vc``. ``alg`` is ES256 (or RS256 for an RSA
seal); the header carries ``x5c``/``x5t#S256`` so the same X.509 trust anchor verifies
both ELM seals and badges, and ``kid`` = the certificate thumbprint.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from cryptography import x509

from connectors.crypto.jose import (
    SUPPORTED_ALGS,
    VerificationError,
    check_thumbprint,
    compact_json,
    parse_x5c,
    sign,
    validate_chain,
    verify_signature,
)
from connectors.crypto.keys import Signer, b64url, b64url_decode

VC_JWT_TYP: Final = "vc+jwt"
VC_CTY: Final = "vc"


def sign_vc(credential: dict[str, Any], signer: Signer) -> str:
    """The credential as a compact JWS (``header.payload.signature``)."""
    head = _header(signer)
    body = b64url(compact_json(credential))
    signing_input = f"{head}.{body}".encode("ascii")
    return f"{head}.{body}.{b64url(sign(signer, signing_input))}"


#: the last signer's base64url header (it depends on the signer only)
_last_header: tuple[Signer, str] | None = None


def _header(signer: Signer) -> str:
    """The base64url JOSE header of ``signer``'s VC-JWTs."""
    global _last_header
    last = _last_header
    if last is not None and last[0] is signer:
        return last[1]
    header = {
        "alg": signer.alg,
        "typ": VC_JWT_TYP,
        "cty": VC_CTY,
        "kid": signer.x5t_s256(),
        "x5t#S256": signer.x5t_s256(),
        "x5c": signer.x5c(),
    }
    # every header value is ASCII, so this is also what ensure_ascii=True would write
    head = b64url(compact_json(header))
    _last_header = (signer, head)
    return head


@dataclass(frozen=True)
class JwtInfo:
    """What a valid VC-JWT tells: the credential, the signer's certificate, the header."""

    credential: dict[str, Any]
    certificate: x509.Certificate
    header: dict[str, Any]


def verify_vc(
    token: str,
    anchors: Sequence[x509.Certificate],
    *,
    now: datetime | None = None,
) -> JwtInfo:
    """Verify a VC-JWT; raise :class:`VerificationError` with the reason.

    Checks ``typ``, ``alg``, ``x5t#S256``, the signature with the ``x5c`` leaf, the chain
    against ``anchors`` at ``now``, and the credential's ``validFrom``/``validUntil``.
    """
    parts = token.strip().split(".")
    if len(parts) != 3:
        raise VerificationError("malformed", "a VC-JWT has three dot-separated parts")
    try:
        header = json.loads(b64url_decode(parts[0]))
        credential = json.loads(b64url_decode(parts[1]))
        sig = b64url_decode(parts[2])
    except (ValueError, UnicodeDecodeError) as exc:
        raise VerificationError("malformed", f"unreadable JWT part: {exc}") from exc
    if not isinstance(header, dict) or not isinstance(credential, dict):
        raise VerificationError("malformed", "JWT header and payload must be JSON objects")
    if header.get("typ") != VC_JWT_TYP:
        raise VerificationError("malformed", f"typ {header.get('typ')!r} is not {VC_JWT_TYP!r}")
    alg = header.get("alg")
    if alg not in SUPPORTED_ALGS:
        raise VerificationError("unsupported-alg", f"alg {alg!r} is not accepted")
    if header.get("crit"):
        raise VerificationError("malformed", f"unsupported critical headers {header['crit']}")
    chain = parse_x5c(header.get("x5c"))
    check_thumbprint(header, chain[0])
    verify_signature(chain[0], str(alg), f"{parts[0]}.{parts[1]}".encode("ascii"), sig)
    moment = now or datetime.now(UTC)
    validate_chain(chain, anchors, moment)
    _check_validity_period(credential, moment)
    return JwtInfo(credential, chain[0], header)


def _check_validity_period(credential: dict[str, Any], moment: datetime) -> None:
    for key in ("validFrom", "validUntil"):
        value = credential.get(key)
        if value is None:
            continue
        try:
            when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError as exc:
            raise VerificationError("malformed", f"{key} {value!r} is not a date-time") from exc
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        if (key == "validFrom" and when > moment) or (key == "validUntil" and when < moment):
            raise VerificationError("not-valid-now", f"credential {key} is {value}")
