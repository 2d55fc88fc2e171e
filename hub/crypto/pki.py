"""The dev CA's certificate revocation list (RFC 5280 CRL) and the revocation check.

The seal certificate names ``<public base URL>/v1/pki/ca.crl`` as its CRL distribution
point (:mod:`hub.crypto.devca`); the hub's issuer server serves the DER file
``ca.crl`` from the keys directory (:mod:`connectors.status.pki`) and needs no key for
it: the CRL is signed here, by the code that holds the CA key, when it is first issued,
when a certificate is revoked and when it is renewed (past half of its validity window,
on every start of the dev signer).

The CRL file is its own state: revoking re-signs the entries of the current CRL plus the
new one, with the next CRL number. :func:`build_crl`, :func:`revoked_entries`,
:func:`check_revocation` and :func:`crl_revocation_check` (given a fetch function) are
pure; :func:`ensure_crl`, :func:`revoke_certificate` and :func:`revoke_seal` read and
write the keys directory.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from hub.crypto.jades import RevocationCheck
from hub.crypto.keys import (
    CA_CERT_FILE,
    CA_KEY_FILE,
    CERT_FILE,
    CRL_FILE,
    SigningKey,
    crl_distribution_points,
    load_certificates,
    load_private_key,
)
from hub.errors import ConfigurationError, VerificationError

#: how long an issued CRL stays valid (its nextUpdate); renewed past half of it
CRL_VALIDITY: Final = timedelta(days=7)


@dataclass(frozen=True)
class RevokedEntry:
    """One revoked certificate: its serial number, when, and why (None: unspecified)."""

    serial: int
    revoked_at: datetime
    reason: x509.ReasonFlags | None = None


def build_crl(
    ca_cert: x509.Certificate,
    ca_key: SigningKey,
    revoked: Sequence[RevokedEntry],
    *,
    number: int,
    this_update: datetime,
    validity: timedelta = CRL_VALIDITY,
) -> x509.CertificateRevocationList:
    """A CRL of ``ca_cert`` listing ``revoked``, signed with ``ca_key`` (SHA-256).

    Carries the CRL number and the authority key identifier RFC 5280 requires;
    ``nextUpdate`` is ``this_update + validity``.
    """
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_cert.subject)
        .last_update(this_update)
        .next_update(this_update + validity)
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    for entry in revoked:
        item = (
            x509.RevokedCertificateBuilder()
            .serial_number(entry.serial)
            .revocation_date(entry.revoked_at)
        )
        if entry.reason is not None:
            item = item.add_extension(x509.CRLReason(entry.reason), critical=False)
        builder = builder.add_revoked_certificate(item.build())
    return builder.sign(ca_key, hashes.SHA256())


def crl_number(crl: x509.CertificateRevocationList) -> int:
    """The CRL number (0 when the extension is missing)."""
    try:
        return int(crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number)
    except x509.ExtensionNotFound:
        return 0


def revoked_entries(crl: x509.CertificateRevocationList) -> list[RevokedEntry]:
    """The entries of a CRL, in its order."""
    entries = []
    for item in crl:
        try:
            reason: x509.ReasonFlags | None = item.extensions.get_extension_for_class(
                x509.CRLReason
            ).value.reason
        except x509.ExtensionNotFound:
            reason = None
        entries.append(RevokedEntry(item.serial_number, item.revocation_date_utc, reason))
    return entries


def needs_renewal(crl: x509.CertificateRevocationList, now: datetime) -> bool:
    """True once half of the CRL's validity window has passed (or it has none)."""
    next_update = crl.next_update_utc
    if next_update is None:
        return True
    return now >= crl.last_update_utc + (next_update - crl.last_update_utc) / 2


def check_revocation(
    cert: x509.Certificate,
    issuer: x509.Certificate,
    crl: x509.CertificateRevocationList,
    *,
    now: datetime,
) -> None:
    """Check ``cert`` against ``issuer``'s ``crl`` at ``now``; raise the reason when not good.

    The CRL must be issued (name and signature) by ``issuer`` and current at ``now``
    (``revocation-unknown`` otherwise); a listed serial is ``certificate-revoked``.
    """
    key = issuer.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey) or (
        crl.issuer != issuer.subject or not crl.is_signature_valid(key)
    ):
        raise VerificationError(
            "revocation-unknown", f"the CRL is not signed by {issuer.subject.rfc4514_string()}"
        )
    next_update = crl.next_update_utc
    if now < crl.last_update_utc - timedelta(minutes=5) or (
        next_update is not None and now > next_update
    ):
        raise VerificationError(
            "revocation-unknown",
            f"the CRL is not current at {now.isoformat()} (thisUpdate "
            f"{crl.last_update_utc.isoformat()}, nextUpdate "
            f"{next_update.isoformat() if next_update else 'none'})",
        )
    entry = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
    if entry is not None:
        raise VerificationError(
            "certificate-revoked",
            f"certificate {cert.subject.rfc4514_string()} (serial {cert.serial_number:x}) was "
            f"revoked at {entry.revocation_date_utc.isoformat()}",
        )


# --- the CRL file in the keys directory ------------------------------------------------


def load_crl(path: Path) -> x509.CertificateRevocationList:
    """A CRL file (DER or PEM)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"cannot read CRL {path}: {exc}") from exc
    try:
        if data.startswith(b"-----"):
            return x509.load_pem_x509_crl(data)
        return x509.load_der_x509_crl(data)
    except ValueError as exc:
        raise ConfigurationError(f"{path} is not a CRL: {exc}") from exc


def ensure_crl(directory: Path, *, now: datetime | None = None) -> Path:
    """Issue the dev CA's CRL when missing, renew it when due; returns its path."""
    path = directory / CRL_FILE
    moment = now or datetime.now(UTC)
    if path.exists():
        current = load_crl(path)
        if not needs_renewal(current, moment):
            return path
        _write_crl(directory, revoked_entries(current), crl_number(current) + 1, moment)
    else:
        _write_crl(directory, [], 1, moment)
    return path


def revoke_certificate(
    directory: Path,
    serial: int,
    *,
    reason: x509.ReasonFlags | None = x509.ReasonFlags.key_compromise,
    now: datetime | None = None,
) -> x509.CertificateRevocationList:
    """Add ``serial`` to the dev CA's CRL and re-sign it (idempotent for a listed serial)."""
    moment = now or datetime.now(UTC)
    path = directory / CRL_FILE
    if path.exists():
        current = load_crl(path)
        entries, number = revoked_entries(current), crl_number(current) + 1
    else:
        entries, number = [], 1
    if all(e.serial != serial for e in entries):
        entries.append(RevokedEntry(serial, moment.replace(microsecond=0), reason))
    return _write_crl(directory, entries, number, moment)


def revoke_seal(
    directory: Path,
    *,
    reason: x509.ReasonFlags | None = x509.ReasonFlags.key_compromise,
    now: datetime | None = None,
) -> int:
    """Revoke the dev seal certificate in ``directory``; returns its serial number."""
    leaf = load_certificates(directory / CERT_FILE)[0]
    revoke_certificate(directory, leaf.serial_number, reason=reason, now=now)
    return int(leaf.serial_number)


def _write_crl(
    directory: Path, entries: Sequence[RevokedEntry], number: int, moment: datetime
) -> x509.CertificateRevocationList:
    ca_key_path = directory / CA_KEY_FILE
    if not ca_key_path.exists():
        raise ConfigurationError(
            f"no CA key in {directory}: only the dev CA's CRL is issued by the hub"
        )
    ca_cert = load_certificates(directory / CA_CERT_FILE)[0]
    crl = build_crl(
        ca_cert,
        load_private_key(ca_key_path),
        entries,
        number=number,
        this_update=moment.replace(microsecond=0) - timedelta(minutes=1),
    )
    path = directory / CRL_FILE
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    partial.write_bytes(crl.public_bytes(serialization.Encoding.DER))
    os.replace(partial, path)
    return crl


def crl_revocation_check(fetch: Callable[[str], bytes]) -> RevocationCheck:
    """A revocation check for :func:`hub.crypto.jades.verify_seal` that reads the
    certificate's CRL distribution points with ``fetch`` (URL → DER or PEM bytes; the
    caller does the I/O) and checks the first CRL that can be fetched.

    A certificate without a CRL distribution point, or whose CRLs cannot be fetched, is
    ``revocation-unknown``: the seal is not accepted without revocation information.
    """

    def check(cert: x509.Certificate, issuer: x509.Certificate, now: datetime) -> None:
        urls = crl_distribution_points(cert)
        if not urls:
            raise VerificationError(
                "revocation-unknown",
                f"certificate {cert.subject.rfc4514_string()} names no CRL distribution point",
            )
        failures = []
        for url in urls:
            try:
                data = fetch(url)
                crl = (
                    x509.load_pem_x509_crl(data)
                    if data.startswith(b"-----")
                    else x509.load_der_x509_crl(data)
                )
            except (OSError, ValueError) as exc:
                failures.append(f"{url}: {exc}")
                continue
            check_revocation(cert, issuer, crl, now=now)
            return
        raise VerificationError(
            "revocation-unknown", f"no CRL could be fetched ({'; '.join(failures)})"
        )

    return check
