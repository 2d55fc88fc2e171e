"""Shared inputs of the wallet/EDC tests: canonical items, a dev seal, a status publisher."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from connectors.fanout.base import CanonicalItem, decode_canonical
from connectors.status import SqliteStatusStore, StatusPublisher
from hub.contract import AvroCodec
from hub.crypto.devca import generate_dev_keys
from hub.crypto.jwks import Jwk, signer_jwk
from hub.crypto.keys import Signer, load_certificates, load_signer
from hub.errors import VerificationError
from tests.unit.contract.contract_testdata import (
    build,
    enrolment_normalised,
    issued,
    revocation_normalised,
)

CODEC = AvroCodec()
STATUS_BASE = "http://status.test/v1/status"
#: the he sample's learner (issuance, revocation and enrolment share it)
LEARNER = "77721222107"


def issued_item(feed: str = "he") -> CanonicalItem:
    """The canonical issuance of a feed's expected sample, as the fan-out decodes it."""
    return decode_canonical(CODEC.encode(issued(feed)))


def revoked_item() -> CanonicalItem:
    """The revocation of the he sample's credential (reason ``DATA_ERROR``)."""
    return decode_canonical(CODEC.encode(build(revocation_normalised())))


def enrolment_item() -> CanonicalItem:
    """A withdrawal (enrolment event) of the he sample's learner."""
    return decode_canonical(CODEC.encode(build(enrolment_normalised("withdrawn"))))


@dataclass(frozen=True)
class DevSeal:
    """The dev seal and its trust anchor."""

    signer: Signer
    anchors: list[x509.Certificate]
    ca_file: Path

    def keys(self, kid: str) -> Jwk:
        """A key resolver that knows only this seal's public key (no network): the JWK
        the issuer server would serve at ``kid``."""
        jwk = signer_jwk(self.signer)
        if not kid.endswith(f"/keys/{jwk['kid']}"):
            raise VerificationError("key-unavailable", f"no key {kid}")
        return jwk


def dev_seal(directory: Path, public_base_url: str | None = None) -> DevSeal:
    """A dev CA and seal certificate in ``directory`` (naming the CRL under
    ``public_base_url`` when given)."""
    paths = generate_dev_keys(directory, public_base_url=public_base_url)
    signer = load_signer(paths.key, paths.chain)
    return DevSeal(signer, load_certificates(paths.ca_cert), paths.ca_cert)


def publisher(
    seal: DevSeal, db: Path | str = ":memory:", base: str = STATUS_BASE
) -> StatusPublisher:
    """A status publisher over a (fresh, in-memory by default) status database."""
    return StatusPublisher(SqliteStatusStore(db), seal.signer, base)
