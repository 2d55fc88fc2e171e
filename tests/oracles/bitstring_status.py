"""A W3C Bitstring Status List v1.0 check written from the specification, not from the hub.

Independent of ``connectors.*`` on purpose (a test oracle must not share the hub's
mistakes): it reads a credential's status entry, fetches the status list credential over
HTTP, verifies its VC-JWT signature with joserfc (default settings) against the key its
``kid`` URL dereferences to, and follows the spec's *Validate Algorithm*
(https://www.w3.org/TR/vc-bitstring-status-list/, section 3.2):

1. minimum number of entries 131,072 (unless a caller lowers it);
2. status purpose = the entry's ``statusPurpose``;
3. dereference ``statusListCredential``; failure: ``STATUS_RETRIEVAL_ERROR``; proofs must
   verify, else ``STATUS_VERIFICATION_ERROR``;
4. the purpose must be one of the list credential's ``statusPurpose`` values, else
   ``STATUS_VERIFICATION_ERROR``;
5. expand ``encodedList`` (Bitstring Expansion Algorithm: multibase base64url, prefix
   ``u``, no padding, then GZIP); fewer than the minimum entries: ``STATUS_LIST_LENGTH_ERROR``;
6. the status is the bit at ``statusListIndex`` (index 0 is the left-most bit of the
   bitstring); outside the bitstring: ``RANGE_ERROR``.

Beyond the algorithm, as real verifiers do (``@digitalbazaar/vc-bitstring-status-list``
checks matching issuers by default; VC 2.0 ``validFrom``/``validUntil``):

* the list credential's ``issuer`` must be the checked credential's ``issuer``; the
  JWT ``iss``, when present, must be that issuer too;
* the list credential must be valid now (``validFrom`` <= now <= ``validUntil``);
* its types are ``BitstringStatusListCredential`` / ``BitstringStatusList``, and its
  ``id`` is the URL it was fetched from (a list signed for another address is stale);
* the signing key belongs to the list's issuer: for an issuer that is an http(s) URL the
  ``kid`` URL is under it (OB 3.0 §8.5 key discovery); for any other issuer (the ELM
  sealing organisation, ``urn:epass:org:…``) the JWK's ``x5c`` certificate must chain to
  one of the trust anchors the caller gives, and certify the same public key.

ELM credentials carry their entry as the EDC shapes allow it, one ``xsd:anyURI`` value
``<statusListCredential>#<statusListIndex>`` (purpose ``revocation``; documented in the
hub's docs/credentials.md, "Status"); :func:`status_entry` reads both forms.
"""

from __future__ import annotations

import base64
import gzip
import itertools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import JWKRegistry

MIN_ENTRIES: Final = 131_072
XSD_ANY_URI: Final = "http://www.w3.org/2001/XMLSchema#anyURI"
#: what the oracle accepts as the list's signature algorithm (the ones OB 3.0 names)
ALGORITHMS: Final = ("ES256", "RS256")
_BASE64URL: Final = re.compile(r"[A-Za-z0-9_-]+")


class StatusCheckError(Exception):
    """A failed check, with the spec's error type (``STATUS_RETRIEVAL_ERROR``, ...)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


@dataclass(frozen=True)
class Entry:
    """A credential's status entry."""

    list_url: str
    index: int
    purpose: str


@dataclass(frozen=True)
class StatusResult:
    """What the Validate Algorithm returns, with what it was read from."""

    status: int
    purpose: str
    entry: Entry
    list_issuer: str
    kid: str

    @property
    def revoked(self) -> bool:
        """A set bit of a revocation list."""
        return self.purpose == "revocation" and self.status == 1


def _issuer_id(credential: dict[str, Any]) -> str | None:
    issuer = credential.get("issuer")
    if isinstance(issuer, dict):
        issuer = issuer.get("id")
    return issuer if isinstance(issuer, str) else None


def status_entry(credential: dict[str, Any]) -> Entry:
    """The credential's ``BitstringStatusListEntry`` (VC 2.0 object, or ELM's anyURI)."""
    status = credential.get("credentialStatus")
    if isinstance(status, list):
        entries = [s for s in status if isinstance(s, dict)]
        found = [s for s in entries if s.get("type") == "BitstringStatusListEntry"]
        if len(found) != 1:
            raise StatusCheckError("MALFORMED_VALUE_ERROR", "no single status list entry")
        status = found[0]
    if isinstance(status, dict) and status.get("type") == "BitstringStatusListEntry":
        index_text = status.get("statusListIndex")
        url = status.get("statusListCredential")
        purpose = status.get("statusPurpose")
        if not isinstance(purpose, str) or not isinstance(url, str):
            raise StatusCheckError("MALFORMED_VALUE_ERROR", "statusPurpose/Credential missing")
        return Entry(url, _index(index_text), purpose)
    if isinstance(status, dict) and status.get("@type") == XSD_ANY_URI:
        value = status.get("@value")
        if not isinstance(value, str) or "#" not in value:
            raise StatusCheckError("MALFORMED_VALUE_ERROR", f"ELM status {value!r}")
        url, _, fragment = value.partition("#")
        return Entry(url, _index(fragment), "revocation")
    raise StatusCheckError("MALFORMED_VALUE_ERROR", f"no status list entry in {status!r}")


def _index(text: object) -> int:
    # "an arbitrary size integer greater than or equal to 0, expressed as a string in base 10"
    if not isinstance(text, str) or not text.isdigit() or not text.isascii():
        raise StatusCheckError("MALFORMED_VALUE_ERROR", f"statusListIndex {text!r}")
    return int(text)


def expand_bitstring(encoded: object) -> bytes:
    """The spec's Bitstring Expansion Algorithm: multibase ``u`` base64url, no padding,
    GZIP-decompressed."""
    if not isinstance(encoded, str) or not encoded.startswith("u"):
        raise StatusCheckError("MALFORMED_VALUE_ERROR", "encodedList is not multibase 'u'")
    body = encoded[1:]
    if not body or not _BASE64URL.fullmatch(body):
        raise StatusCheckError("MALFORMED_VALUE_ERROR", "encodedList is not unpadded base64url")
    try:
        packed = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        return gzip.decompress(packed)
    except (ValueError, OSError, EOFError) as exc:
        raise StatusCheckError("MALFORMED_VALUE_ERROR", f"encodedList: {exc}") from exc


def bit_at(bitstring: bytes, index: int, size: int = 1) -> int:
    """The ``size``-bit status at entry ``index``; bit 0 is the left-most bit."""
    start = index * size
    if start < 0 or start + size > len(bitstring) * 8:
        raise StatusCheckError("RANGE_ERROR", f"index {index} outside {len(bitstring) * 8} bits")
    value = 0
    for position in range(start, start + size):
        value = (value << 1) | ((bitstring[position // 8] >> (7 - position % 8)) & 1)
    return value


def _b64json(part: str) -> dict[str, Any]:
    data = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    if not isinstance(data, dict):
        raise StatusCheckError("STATUS_VERIFICATION_ERROR", "JWT part is not a JSON object")
    return data


def _moment(value: object, name: str) -> datetime:
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as exc:
        raise StatusCheckError("STATUS_VERIFICATION_ERROR", f"{name} {value!r}") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _spki(key: Any) -> bytes:
    return bytes(key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo))


def _key_certified(jwk: dict[str, Any], anchors: Sequence[x509.Certificate]) -> None:
    """The JWK's ``x5c`` chain leads to an anchor and its leaf certifies the JWK's key."""
    x5c = jwk.get("x5c")
    if not isinstance(x5c, list) or not x5c:
        raise StatusCheckError("STATUS_VERIFICATION_ERROR", "key has no x5c to a trust anchor")
    chain = [x509.load_der_x509_certificate(base64.b64decode(c)) for c in x5c]
    jwk_key = JWKRegistry.import_key({k: v for k, v in jwk.items() if k != "x5c"})
    if _spki(jwk_key.get_op_key("verify")) != _spki(chain[0].public_key()):
        raise StatusCheckError("STATUS_VERIFICATION_ERROR", "x5c certifies another key")
    try:
        for child, parent in itertools.pairwise(chain):
            child.verify_directly_issued_by(parent)
    except (InvalidSignature, ValueError, TypeError) as exc:
        raise StatusCheckError("STATUS_VERIFICATION_ERROR", f"x5c chain: {exc}") from exc
    for anchor in anchors:
        if chain[-1] == anchor:
            return
        try:
            chain[-1].verify_directly_issued_by(anchor)
        except (InvalidSignature, ValueError, TypeError):
            continue
        return
    raise StatusCheckError("STATUS_VERIFICATION_ERROR", "x5c does not lead to a trust anchor")


def check_status(
    credential: dict[str, Any],
    http: httpx.Client,
    *,
    now: datetime | None = None,
    anchors: Sequence[x509.Certificate] = (),
    min_entries: int = MIN_ENTRIES,
) -> StatusResult:
    """Validate ``credential``'s status (see the module docstring); raise
    :class:`StatusCheckError` with the spec's error type when a check fails."""
    entry = status_entry(credential)
    moment = now or datetime.now(UTC)
    try:
        answer = http.get(entry.list_url, headers={"Accept": "application/vc+jwt"})
    except httpx.HTTPError as exc:
        raise StatusCheckError("STATUS_RETRIEVAL_ERROR", f"{entry.list_url}: {exc}") from exc
    if answer.status_code != 200:
        raise StatusCheckError(
            "STATUS_RETRIEVAL_ERROR", f"{entry.list_url} answered {answer.status_code}"
        )
    token = answer.text.strip()
    parts = token.split(".")
    if len(parts) != 3:
        raise StatusCheckError("STATUS_VERIFICATION_ERROR", "the list is not a compact JWS")
    header, claims = _b64json(parts[0]), _b64json(parts[1])
    kid = header.get("kid")
    if header.get("alg") not in ALGORITHMS or not isinstance(kid, str):
        raise StatusCheckError("STATUS_VERIFICATION_ERROR", f"header {header}")
    try:
        found = http.get(kid, headers={"Accept": "application/jwk+json, application/json"})
        jwk = found.json() if found.status_code == 200 else None
    except (httpx.HTTPError, ValueError) as exc:
        raise StatusCheckError("STATUS_VERIFICATION_ERROR", f"key {kid}: {exc}") from exc
    if not isinstance(jwk, dict):
        raise StatusCheckError("STATUS_VERIFICATION_ERROR", f"no key at {kid}")
    try:
        key = JWKRegistry.import_key({k: v for k, v in jwk.items() if k != "x5c"})
        jws.deserialize_compact(token, key, algorithms=[header["alg"]])
    except (JoseError, ValueError) as exc:
        raise StatusCheckError("STATUS_VERIFICATION_ERROR", f"signature: {exc}") from exc

    listed = claims.get("vc", claims)  # VC 2.0 JWT: the claims are the credential
    if not isinstance(listed, dict):
        raise StatusCheckError("STATUS_VERIFICATION_ERROR", "no credential in the JWT")
    types = listed.get("type") or []
    subject = listed.get("credentialSubject")
    if "BitstringStatusListCredential" not in types or not isinstance(subject, dict):
        raise StatusCheckError("STATUS_VERIFICATION_ERROR", f"not a status list: {types}")
    if subject.get("type") != "BitstringStatusList":
        raise StatusCheckError("STATUS_VERIFICATION_ERROR", "subject is no BitstringStatusList")
    if listed.get("id") != entry.list_url:
        raise StatusCheckError(
            "STATUS_VERIFICATION_ERROR", f"list id {listed.get('id')} is not {entry.list_url}"
        )

    list_issuer = _issuer_id(listed)
    if list_issuer is None or list_issuer != _issuer_id(credential):
        raise StatusCheckError(
            "STATUS_VERIFICATION_ERROR",
            f"list issuer {list_issuer} is not the credential's {_issuer_id(credential)}",
        )
    if "iss" in claims and claims["iss"] != list_issuer:
        raise StatusCheckError("STATUS_VERIFICATION_ERROR", f"iss {claims['iss']}")
    if list_issuer.startswith(("https://", "http://")):
        if not kid.startswith(list_issuer.rstrip("/") + "/"):
            raise StatusCheckError("STATUS_VERIFICATION_ERROR", f"{kid} is not {list_issuer}'s")
    else:
        _key_certified(jwk, anchors)

    if "validFrom" in listed and moment < _moment(listed["validFrom"], "validFrom"):
        raise StatusCheckError("STATUS_VERIFICATION_ERROR", "the list is not valid yet")
    if "validUntil" in listed and moment > _moment(listed["validUntil"], "validUntil"):
        raise StatusCheckError("STATUS_VERIFICATION_ERROR", "the list has expired")

    purposes = subject.get("statusPurpose")
    purposes = [purposes] if isinstance(purposes, str) else list(purposes or [])
    if entry.purpose not in purposes:
        raise StatusCheckError(
            "STATUS_VERIFICATION_ERROR", f"purpose {entry.purpose} not in {purposes}"
        )
    bitstring = expand_bitstring(subject.get("encodedList"))
    if len(bitstring) * 8 < min_entries:
        raise StatusCheckError(
            "STATUS_LIST_LENGTH_ERROR", f"{len(bitstring) * 8} entries < {min_entries}"
        )
    status = bit_at(bitstring, entry.index)
    return StatusResult(status, entry.purpose, entry, list_issuer, kid)
