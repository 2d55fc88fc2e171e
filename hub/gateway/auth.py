"""API keys of sources: generation, hashing at rest, verification; client certificates.

A presented key looks like ``mchub.<key id>.<secret>``: the key id selects the stored
record in the issuer registry (no scan over all hashes), the secret is 32 random bytes
(base64url, 256 bits). At rest only ``sha256$<salt>$<digest>`` is kept, where
``digest = SHA-256(salt || whole presented key)`` with a per-key 16-byte random salt.

Why not scrypt/argon2: those slow hashes protect *low-entropy* secrets (passwords) from
offline guessing. A 256-bit random secret cannot be guessed, slow or fast, and a fast hash
keeps authentication at microseconds per request (docs/gateway.md). The comparison is
constant-time. Rotation: add a new key to the source (several may be active), move the
client over, remove the old key; the gateway reloads the registry file on change.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from hub.authz import ApiKeyRecord, IssuerRegistry, SourceEntry

KEY_PREFIX: Final = "mchub"
HASH_SCHEME: Final = "sha256"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_key(presented: str, *, salt: bytes | None = None) -> str:
    """The at-rest form of a presented key: ``sha256$<salt>$<digest>`` (base64url)."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.sha256(salt + presented.encode("utf-8")).digest()
    return f"{HASH_SCHEME}${_b64(salt)}${_b64(digest)}"


def verify_hash(presented: str, stored: str) -> bool:
    """True when ``presented`` hashes to ``stored`` (constant-time comparison)."""
    try:
        scheme, salt, digest = stored.split("$")
        if scheme != HASH_SCHEME:
            return False
        expected = _unb64(digest)
        actual = hashlib.sha256(_unb64(salt) + presented.encode("utf-8")).digest()
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


def generate_key(key_id: str) -> tuple[str, str]:
    """A new key ``(presented key, stored hash)`` for ``key_id``; show the first once."""
    presented = f"{KEY_PREFIX}.{key_id}.{secrets.token_urlsafe(32)}"
    return presented, hash_key(presented)


def key_id_of(presented: str) -> str | None:
    """The key id inside a presented key, or ``None`` when it is not one of ours."""
    parts = presented.split(".")
    if len(parts) != 3 or parts[0] != KEY_PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1]


def _expired(record: ApiKeyRecord, now: datetime) -> bool:
    if not record.expires_at:
        return False
    try:
        expires = datetime.fromisoformat(record.expires_at)
    except ValueError:
        return True  # an unreadable expiry is treated as expired: fail closed
    if expires.tzinfo is None:
        expires = expires.replace(tzinfo=UTC)
    return expires <= now


@dataclass(frozen=True)
class Principal:
    """Who is calling: the source and how it proved it."""

    source: SourceEntry
    key_id: str | None
    certificate: str | None


def authenticate(
    registry: IssuerRegistry,
    authorization: str | None,
    certificate_subject: str | None = None,
    *,
    now: datetime | None = None,
) -> Principal | None:
    """The caller's principal from ``Authorization: Bearer <key>`` and/or a client cert.

    With both, they must name the same source. ``None``: not authenticated (401).
    """
    now = now or datetime.now(UTC)
    by_cert = (
        registry.source_for_certificate(certificate_subject) if certificate_subject else None
    )
    by_key: SourceEntry | None = None
    key_id: str | None = None
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer":
            return None
        key_id = key_id_of(token.strip())
        found = registry.api_key(key_id) if key_id else None
        if found is None:
            return None
        source, record = found
        if _expired(record, now) or not verify_hash(token.strip(), record.hash):
            return None
        by_key = source
    if by_key is not None and by_cert is not None and by_key.id != by_cert.id:
        return None
    source_found = by_key or by_cert
    if source_found is None:
        return None
    return Principal(source_found, key_id, certificate_subject if by_cert else None)
