"""The gateway's attestation of the record headers it writes to the source topics.

Anyone who may produce to a source topic can set headers. The HTTP gateway therefore adds
``mchub-attestation``: an HMAC-SHA256, keyed with the deployment's attestation secret
(``MCHUB_GATEWAY_ATTESTATION_SECRET``, else ``gateway-attestation.secret`` in the keys
directory, :mod:`hub.crypto.secret`), over the topic, the receipt id, the source and the
SHA-256 of the value. The ingest stage takes the receipt id (and, once verified, the
source) from a record's headers only when the attestation verifies for that topic and
those bytes; any other record gets a receipt id of its own (its coordinates), so a Kafka
producer cannot answer for, or overwrite, a gateway receipt.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from hub.authz import SOURCE_HEADER
from hub.crypto.secret import load_secret
from hub.settings import Settings

ATTESTATION_HEADER: Final = "mchub-attestation"
RECEIPT_ID_HEADER: Final = "mchub-receipt-id"
SECRET_FILE: Final = "gateway-attestation.secret"
SECRET_SETTING: Final = "MCHUB_GATEWAY_ATTESTATION_SECRET"
_VERSION: Final = b"v1"


def attestation_secret(settings: Settings) -> bytes:
    """The deployment's attestation secret (``settings.gateway.attestation_secret``, else
    the keys directory's file, made on first use): the gateway and every ingest instance
    must have the same one."""
    given = settings.gateway.attestation_secret
    value = None if given is None else given.get_secret_value()
    return load_secret(settings.data_dir / "keys", SECRET_FILE, value, setting=SECRET_SETTING)


def attest(secret: bytes, *, topic: str, receipt_id: str, source: str, value: bytes) -> bytes:
    """The ``mchub-attestation`` header value of a gateway write (``v1.<base64url MAC>``)."""
    return _VERSION + b"." + base64.urlsafe_b64encode(
        _mac(secret, topic, receipt_id, source, value)
    ).rstrip(b"=")


@dataclass(frozen=True)
class AttestedHeaders:
    """What a record's headers claim and whether the gateway attested the claim."""

    receipt_id: str | None
    source: str | None
    attested: bool


def read_attested(
    secret: bytes, topic: str, value: bytes, headers: Iterable[tuple[str, bytes]]
) -> AttestedHeaders:
    """The receipt id and source a record's headers claim, and whether its
    ``mchub-attestation`` verifies for ``topic`` and ``value`` (constant-time compare)."""
    found: dict[str, bytes] = {}
    for name, raw in headers:
        if name in (ATTESTATION_HEADER, RECEIPT_ID_HEADER, SOURCE_HEADER):
            found.setdefault(name, bytes(raw))
    receipt = found.get(RECEIPT_ID_HEADER)
    source = found.get(SOURCE_HEADER)
    receipt_text = None if receipt is None else receipt.decode("utf-8", "replace")
    source_text = None if source is None else source.decode("utf-8", "replace")
    mark = found.get(ATTESTATION_HEADER)
    ok = False
    if mark is not None and receipt_text is not None and source_text is not None:
        expected = attest(
            secret, topic=topic, receipt_id=receipt_text, source=source_text, value=value
        )
        ok = hmac.compare_digest(mark, expected)
    return AttestedHeaders(receipt_text, source_text, ok)


def _mac(secret: bytes, topic: str, receipt_id: str, source: str, value: bytes) -> bytes:
    message = b"\n".join(
        (
            _VERSION,
            topic.encode("utf-8"),
            receipt_id.encode("utf-8"),
            source.encode("utf-8"),
            hashlib.sha256(value).hexdigest().encode("ascii"),
        )
    )
    return hmac.new(secret, message, hashlib.sha256).digest()
