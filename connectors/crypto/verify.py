"""One verifier for the hub's credentials: sealed ELM (JAdES JWS JSON) and OB3 VC-JWT.

:func:`verify_credential` detects the format, checks the seal or signature and the X.509
chain against the trust anchor(s), then the revocation status when the status list
credential is available locally (a VC-JWT text or its already-fetched JSON). It never
raises for an invalid credential: the :class:`Verdict` says valid or why not.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from cryptography import x509

from connectors.crypto.jades import verify_seal
from connectors.crypto.jose import VerificationError
from connectors.crypto.statuslist import StatusListError, status_in_list
from connectors.crypto.vcjwt import verify_vc

Format = Literal["elm-jades", "vc-jwt", "unknown"]
#: resolves a status list URL to its signed list credential (VC-JWT text) or None
StatusResolver = Callable[[str], str | None]


@dataclass(frozen=True)
class Verdict:
    """The outcome: ``valid`` or the stable ``code`` and a human ``reason``."""

    valid: bool
    format: Format
    code: str = "ok"
    reason: str = "valid"
    credential: dict[str, Any] | None = None
    signer: str | None = None
    status_checked: bool = False

    def line(self) -> str:
        """One line for humans: ``valid (...)`` or ``invalid: <code>: <reason>``."""
        if self.valid:
            status = "status checked" if self.status_checked else "status not checked"
            return f"valid ({self.format}, sealed by {self.signer}; {status})"
        return f"invalid: {self.code}: {self.reason}"


def detect_format(data: str) -> Format:
    """``elm-jades`` for a JWS JSON document, ``vc-jwt`` for a compact JWS, else unknown."""
    text = data.strip()
    if text.startswith("{"):
        try:
            doc = json.loads(text)
        except ValueError:
            return "unknown"
        return "elm-jades" if isinstance(doc, dict) and "signatures" in doc else "unknown"
    return "vc-jwt" if text.count(".") == 2 else "unknown"


def verify_credential(
    data: str,
    anchors: Sequence[x509.Certificate],
    *,
    status_resolver: StatusResolver | None = None,
    now: datetime | None = None,
) -> Verdict:
    """Verify a sealed/signed credential given as text; see the module docstring."""
    fmt = detect_format(data)
    moment = now or datetime.now(UTC)
    try:
        if fmt == "elm-jades":
            seal = verify_seal(json.loads(data), anchors, now=moment)
            credential, cert = seal.credential, seal.certificate
        elif fmt == "vc-jwt":
            info = verify_vc(data, anchors, now=moment)
            credential, cert = info.credential, info.certificate
        else:
            raise VerificationError(
                "not-signed", "neither a JAdES JWS JSON seal nor a VC-JWT (unsigned credential?)"
            )
        checked = check_status(credential, anchors, status_resolver, now=moment)
    except VerificationError as exc:
        return Verdict(False, fmt, exc.code, exc.message)
    return Verdict(
        True,
        fmt,
        credential=credential,
        signer=cert.subject.rfc4514_string(),
        status_checked=checked,
    )


def status_reference(credential: dict[str, Any]) -> tuple[str, int, str] | None:
    """(list URL, index, purpose) of a credential's status entry, or None.

    OB3: a ``BitstringStatusListEntry`` object. ELM: EDC allows only a URI, so the hub
    writes the list URL with the index as fragment (purpose revocation).
    """
    status = credential.get("credentialStatus")
    if status is None:
        return None
    if isinstance(status, dict) and status.get("type") == "BitstringStatusListEntry":
        try:
            return (
                str(status["statusListCredential"]),
                int(status["statusListIndex"]),
                str(status.get("statusPurpose", "revocation")),
            )
        except (KeyError, ValueError) as exc:
            raise VerificationError("malformed", f"bad credentialStatus entry: {exc}") from exc
    uri = status.get("@value") if isinstance(status, dict) else status
    if isinstance(uri, str) and "#" in uri:
        url, _, frag = uri.rpartition("#")
        if frag.isdigit():
            return url, int(frag), "revocation"
    raise VerificationError("malformed", f"unsupported credentialStatus {status!r}")


def check_status(
    credential: dict[str, Any],
    anchors: Sequence[x509.Certificate],
    resolver: StatusResolver | None,
    *,
    now: datetime | None = None,
) -> bool:
    """Check an already verified credential's status entry against its signed list.

    True when the list was fetched, verified and has the bit clear; False when there is
    no entry or no resolver (or it had no list); raises ``VerificationError`` with code
    ``revoked``/``suspended``/``status-list-invalid``/``status-list-unavailable``.
    """
    moment = now or datetime.now(UTC)
    ref = status_reference(credential)
    if ref is None or resolver is None:
        return False
    url, index, purpose = ref
    token = resolver(url)
    if token is None:
        return False
    try:
        info = verify_vc(token, anchors, now=moment)
    except VerificationError as exc:
        raise VerificationError(
            "status-list-invalid", f"status list {url} failed verification: {exc.message}"
        ) from exc
    if info.credential.get("id") != url:
        raise VerificationError("status-list-invalid", f"status list credential is not {url}")
    try:
        revoked = status_in_list(info.credential, index, purpose)
    except StatusListError as exc:
        raise VerificationError("status-list-invalid", str(exc)) from exc
    if revoked:
        raise VerificationError(
            "revoked" if purpose == "revocation" else "suspended",
            f"status list {url} marks index {index} ({purpose})",
        )
    return True
