"""One verifier for the hub's credentials: sealed ELM (JAdES JWS JSON) and OB3 VC-JWT.

:func:`verify_credential` detects the format and checks:

* ELM: the JAdES seal and its X.509 chain against the trust anchor(s);
* OB3 VC-JWT: the OB 3.0 §8.2 proof — the key found from the header's ``kid`` URL
  through a key resolver (:class:`hub.crypto.jwks.HttpKeyResolver` over HTTP
  unless another is given: no key is handed in), published under the ``iss`` issuer,
  and the registered claims against the credential;

then the revocation status when a status resolver gives the list credential (its
``issuer`` must be the credential's, as the W3C Bitstring Status List requires). It never
raises for an invalid credential: the :class:`Verdict` says valid or why not.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from cryptography import x509

from hub.crypto.jades import RevocationCheck, verify_seal
from hub.crypto.jwks import HttpKeyResolver, KeyResolver
from hub.crypto.statuslist import status_in_list
from hub.crypto.vcjwt import issuer_of, verify_vc
from hub.errors import StatusListError, VerificationError

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
            how = "signed by" if self.format == "vc-jwt" else "sealed by"
            return f"valid ({self.format}, {how} {self.signer}; {status})"
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
    key_resolver: KeyResolver | None = None,
    revocation: RevocationCheck | None = None,
    now: datetime | None = None,
) -> Verdict:
    """Verify a sealed/signed credential given as text; see the module docstring.

    ``key_resolver`` dereferences VC-JWT ``kid`` URLs (default: over HTTP, for this call);
    ``revocation`` checks an ELM seal's certificate (e.g. against the CRL it names).
    """
    fmt = detect_format(data)
    moment = now or datetime.now(UTC)
    try:
        with _keys(key_resolver, fmt, status_resolver) as resolve_key:
            if fmt == "elm-jades":
                seal = verify_seal(json.loads(data), anchors, now=moment, revocation=revocation)
                credential = seal.credential
                signer = seal.certificate.subject.rfc4514_string()
            elif fmt == "vc-jwt":
                info = verify_vc(data, resolve_key, now=moment, anchors=anchors)
                credential = info.credential
                signer = f"{issuer_of(credential)} with key {info.kid}"
            else:
                raise VerificationError(
                    "not-signed",
                    "neither a JAdES JWS JSON seal nor a VC-JWT (unsigned credential?)",
                )
            checked = check_status(
                credential, anchors, status_resolver, now=moment, key_resolver=resolve_key
            )
    except VerificationError as exc:
        return Verdict(False, fmt, exc.code, exc.message)
    return Verdict(True, fmt, credential=credential, signer=signer, status_checked=checked)


@contextmanager
def _keys(
    given: KeyResolver | None, fmt: Format, status_resolver: StatusResolver | None
) -> Iterator[KeyResolver]:
    """The key resolver to use: ``given``, else an HTTP one made (and closed) for the call."""
    if given is not None or (fmt != "vc-jwt" and status_resolver is None):
        yield given or _no_keys
        return
    with HttpKeyResolver() as fetcher:
        yield fetcher


def _no_keys(kid: str) -> dict[str, Any]:
    raise VerificationError("key-unavailable", f"no key resolver for {kid}")


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
    key_resolver: KeyResolver | None = None,
) -> bool:
    """Check an already verified credential's status entry against its signed list.

    True when the list was fetched, verified and has the bit clear; False when there is
    no entry or no resolver (or it had no list); raises ``VerificationError`` with code
    ``revoked``/``suspended``/``status-list-invalid``/``status-list-unavailable``.
    The list credential is verified like a badge (its key from its ``kid`` through
    ``key_resolver``, default over HTTP; a list whose issuer is not a URL — the ELM
    issuer — needs a key whose ``x5c`` chains to ``anchors``) and must have the
    credential's issuer.
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
        if key_resolver is None:
            with HttpKeyResolver() as fetcher:
                info = verify_vc(token, fetcher, now=moment, anchors=anchors)
        else:
            info = verify_vc(token, key_resolver, now=moment, anchors=anchors)
    except VerificationError as exc:
        raise VerificationError(
            "status-list-invalid", f"status list {url} failed verification: {exc.message}"
        ) from exc
    if info.credential.get("id") != url:
        raise VerificationError("status-list-invalid", f"status list credential is not {url}")
    if issuer_of(info.credential) != issuer_of(credential):
        raise VerificationError(
            "status-list-invalid",
            f"status list {url} is issued by {issuer_of(info.credential)}, not by the "
            f"credential's issuer {issuer_of(credential)}",
        )
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
