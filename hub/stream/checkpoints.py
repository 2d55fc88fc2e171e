"""Signed checkpoints of the canonical log's hash chains, on ``audit.checkpoints.log``.

A checkpoint is a JWS (compact serialisation, ``ES256``/``RS256`` with the hub's seal key
and its chain in ``x5c``) over this JSON payload::

    {"v": 1, "typ": "mchub-checkpoint", "log": "canon.events.log", "n": 7,
     "at": "2025-06-01T10:00:00.000000+00:00",
     "heads": [{"partition": 0, "seq": 1200, "head": "<sha256 hex>"}, ...]}

``n`` numbers checkpoints 1, 2, 3… (a gap or a repeat on the checkpoint topic is a
finding), ``seq`` is the number of chained records in the partition when the checkpoint
was taken and ``head`` the hash of the ``seq``-th one. Offsets are *not* used: the decide
stage writes the checkpoint in the same transaction as the records it covers, before
Kafka has assigned their offsets (transaction markers take offsets too); the verifier
counts chained records per partition and reports the offset of any mismatch it finds.

The decide stage writes one checkpoint in **every transaction** that appends records to
the log, so every record the hub appends is covered by a signature made with it; the same
JWS is the chain state it keeps in its changelog (``chain|head``), so a head written there
by anyone else fails verification when the stage restores (:func:`newest_valid`). The
newest checkpoint is the **anchor** an auditor keeps outside Kafka
(:func:`latest_checkpoint`, ``mchub audit anchor``, ``GET /v1/audit/anchor``): a log
later cut short, checkpoints and all, no longer reaches it (``mchub audit verify
--anchor``).

The decide stage signs with the key configured by ``MCHUB_AUDIT_KEY`` and
``MCHUB_AUDIT_CERT`` (PEM; chain leaf first; the ``audit`` section of
:class:`hub.settings.Settings`), else with the development seal in
``<MCHUB_DATA_DIR>/keys`` (generated on first use, like ``mchub render --dev-keys``).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from hub.crypto.devca import dev_signer
from hub.crypto.jose import check_thumbprint, parse_x5c, sign, validate_chain, verify_signature
from hub.crypto.keys import (
    CA_CERT_FILE,
    Signer,
    b64url,
    b64url_decode,
    load_certificates,
    load_signer,
)
from hub.errors import ConfigurationError, VerificationError
from hub.settings import Settings
from hub.stream.chain import ChainHead
from hub.topics import AUDIT_CHECKPOINTS, CANONICAL_LOG

CHECKPOINT_TYPE: Final = "mchub-checkpoint"
JWS_TYPE: Final = "mchub-checkpoint+jws"


def audit_signer(settings: Settings) -> Signer:
    """The signer of checkpoints: ``settings.audit``'s key and chain, else the dev seal."""
    audit = settings.audit
    if audit.audit_key is not None or audit.audit_cert is not None:
        if audit.audit_key is None or audit.audit_cert is None:
            raise ConfigurationError("set both MCHUB_AUDIT_KEY and MCHUB_AUDIT_CERT")
        return load_signer(audit.audit_key, audit.audit_cert)
    return dev_signer(settings.data_dir / "keys")


def trust_anchors(settings: Settings) -> list[Any]:
    """Trust anchors for checkpoint signatures: ``MCHUB_AUDIT_TRUST``, else the dev CA."""
    audit = settings.audit
    if audit.audit_trust is not None:
        return load_certificates(audit.audit_trust)
    if audit.audit_cert is not None:
        return load_certificates(audit.audit_cert)[-1:]
    path = settings.data_dir / "keys" / CA_CERT_FILE
    if not path.exists():
        raise ConfigurationError(
            f"no trust anchor for checkpoint signatures: {path} is missing "
            "(set MCHUB_AUDIT_TRUST or pass --trust)"
        )
    return load_certificates(path)


@dataclass(frozen=True)
class Checkpoint:
    """The payload of one checkpoint."""

    n: int
    at: datetime
    heads: tuple[ChainHead, ...]

    def payload(self) -> dict[str, Any]:
        """JSON payload (see the module docstring)."""
        return {
            "v": 1,
            "typ": CHECKPOINT_TYPE,
            "log": CANONICAL_LOG,
            "n": self.n,
            "at": self.at.isoformat(),
            "heads": [h.to_json() for h in sorted(self.heads, key=lambda h: h.partition)],
        }


def sign_checkpoint(checkpoint: Checkpoint, signer: Signer) -> bytes:
    """The checkpoint as a compact JWS (the value written to the checkpoint topic)."""
    header = {"alg": signer.alg, "typ": JWS_TYPE, "x5c": signer.x5c()}
    body = json.dumps(checkpoint.payload(), sort_keys=True, separators=(",", ":"))
    signing_input = (
        b64url(json.dumps(header, separators=(",", ":")).encode()) + "." + b64url(body.encode())
    ).encode("ascii")
    return signing_input + b"." + b64url(sign(signer, signing_input)).encode("ascii")


@dataclass(frozen=True)
class VerifiedCheckpoint:
    """A checkpoint whose signature and certificate chain verified."""

    n: int
    at: datetime
    heads: tuple[ChainHead, ...]
    signer_subject: str


def verify_checkpoint(
    value: bytes, anchors: Sequence[Any], *, at: datetime | None = None
) -> VerifiedCheckpoint:
    """Check a checkpoint JWS: signature with the ``x5c`` leaf, chain to ``anchors``.

    Raises :class:`~hub.crypto.jose.VerificationError` (``malformed``,
    ``bad-signature``, ``untrusted-chain``…) when anything does not hold. ``at`` is the
    moment the chain must be valid (default: the checkpoint's own time).
    """
    try:
        text = value.decode("ascii")
        head_b64, body_b64, sig_b64 = text.split(".")
        header = json.loads(b64url_decode(head_b64))
        payload = json.loads(b64url_decode(body_b64))
        sig = b64url_decode(sig_b64)
    except (UnicodeDecodeError, ValueError) as exc:
        raise VerificationError("malformed", f"not a compact JWS: {exc}") from exc
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise VerificationError("malformed", "header and payload must be JSON objects")
    if header.get("typ") != JWS_TYPE or payload.get("typ") != CHECKPOINT_TYPE:
        raise VerificationError("malformed", "not an mchub checkpoint")
    chain = parse_x5c(header.get("x5c"))
    check_thumbprint(header, chain[0])
    verify_signature(chain[0], str(header.get("alg")), f"{head_b64}.{body_b64}".encode(), sig)
    try:
        moment = datetime.fromisoformat(str(payload["at"]))
        heads = tuple(ChainHead.from_json(h) for h in payload["heads"])
        n = int(payload["n"])
    except (KeyError, TypeError, ValueError) as exc:
        raise VerificationError("malformed", f"bad checkpoint payload: {exc}") from exc
    validate_chain(chain, anchors, at or moment)
    return VerifiedCheckpoint(n, moment, heads, chain[0].subject.rfc4514_string())


def newest_valid(
    values: Iterable[bytes], anchors: Sequence[Any]
) -> tuple[tuple[bytes, VerifiedCheckpoint] | None, int]:
    """Of ``values``, the checkpoint with the highest number whose signature and chain
    verify (None when none does: a replayed older checkpoint never wins), and how many
    values did not verify."""
    best: tuple[bytes, VerifiedCheckpoint] | None = None
    refused = 0
    for value in values:
        try:
            checkpoint = verify_checkpoint(value, anchors)
        except VerificationError:
            refused += 1
            continue
        if best is None or checkpoint.n > best[1].n:
            best = (value, checkpoint)
    return best, refused


async def latest_checkpoint(
    settings: Settings,
    anchors: Sequence[Any],
    *,
    topic: str | None = None,
    look_back: int = 64,
) -> tuple[bytes, VerifiedCheckpoint] | None:
    """The newest valid checkpoint among the last ``look_back`` records of the checkpoint
    topic (default ``audit.checkpoints.log``), or None when it has none: the anchor."""
    from hub.stream.reading import read_all

    name = topic or settings.topic(AUDIT_CHECKPOINTS)
    records = await read_all(settings, name, last=look_back)
    return newest_valid((bytes(r.value) for r in records if r.value is not None), anchors)[0]


def anchor_document(value: bytes, checkpoint: VerifiedCheckpoint) -> dict[str, Any]:
    """The anchor as audit reports and ``GET /v1/audit/anchor`` give it: the checkpoint's
    number, time and heads, and the JWS itself (what ``mchub audit verify --anchor``
    takes)."""
    return {
        "checkpoint": checkpoint.n,
        "at": checkpoint.at.isoformat(),
        "signer": checkpoint.signer_subject,
        "heads": [h.to_json() for h in sorted(checkpoint.heads, key=lambda h: h.partition)],
        "jws": value.decode("ascii"),
    }


def anchor_value(text: str | bytes) -> bytes:
    """The checkpoint JWS of an anchor kept by an auditor: the JWS itself, or the JSON
    document of :func:`anchor_document` (an audit report's ``anchor`` member too)."""
    raw = text.encode() if isinstance(text, str) else text
    raw = raw.strip()
    if raw.startswith(b"{"):
        try:
            doc = json.loads(raw)
            doc = doc.get("anchor", doc) if isinstance(doc, dict) else doc
            return str(doc["jws"]).encode("ascii")
        except (ValueError, KeyError, TypeError, UnicodeEncodeError) as exc:
            raise VerificationError("malformed", f"not an anchor document: {exc}") from exc
    return raw


#: what serves the anchor over HTTP: the newest anchor document, or None
AnchorSource = Callable[[], Awaitable[dict[str, Any] | None]]


def anchor_source(settings: Settings, *, ttl_s: float = 5.0) -> AnchorSource:
    """An :data:`AnchorSource` reading the checkpoint topic at most every ``ttl_s``
    seconds (the issuer server's ``GET /v1/audit/anchor``)."""
    import time

    cached: list[Any] = [0.0, None]

    async def newest() -> dict[str, Any] | None:
        if time.monotonic() - cached[0] >= ttl_s:
            found = await latest_checkpoint(settings, trust_anchors(settings))
            cached[:] = [time.monotonic(), None if found is None else anchor_document(*found)]
        return cached[1]  # type: ignore[no-any-return]

    return newest
