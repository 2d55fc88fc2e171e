"""The development CA: a root CA and a seal certificate made on first use, and its CRL.

Development material is an ECDSA P-256 root CA (self-signed) and a leaf "electronic seal"
certificate issued by it, written as PEM files into a directory (``var/keys`` by default,
never committed), with the CA's CRL (``ca.crl``, :mod:`hub.crypto.pki`). The seal
certificate names where a verifier finds revocation information: a CRL distribution point
``<public base URL>/v1/pki/ca.crl`` and an AIA caIssuers ``<public base URL>/v1/pki/ca.cert``,
both served by the hub's issuer server. When the configured public base URL changes, the dev
seal certificate is re-issued (same key) for the new address. Production keys never pass
through here: they are loaded with :func:`hub.crypto.keys.load_signer`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from hub.crypto import pki
from hub.crypto.keys import (
    CA_CERT_FILE,
    CA_KEY_FILE,
    CERT_FILE,
    CRL_FILE,
    DEV_PUBLIC_BASE_URL,
    KEY_FILE,
    ORGANIZATION_IDENTIFIER_OID,
    PublicKey,
    Signer,
    SigningKey,
    ca_cert_url,
    crl_distribution_points,
    crl_url,
    load_certificates,
    load_private_key,
    load_signer,
)


@dataclass(frozen=True)
class DevKeyPaths:
    """Where :func:`generate_dev_keys` put its files."""

    key: Path
    chain: Path
    ca_cert: Path
    ca_key: Path


def generate_dev_keys(
    directory: Path,
    *,
    public_base_url: str | None = None,
    organisation: str = "Mikrotanúsítvány Hub (fejlesztői példány)",
    organization_identifier: str = "NTRHU-MCHUB-DEV",
    valid_days: int = 825,
    overwrite: bool = False,
    now: datetime | None = None,
) -> DevKeyPaths:
    """Create a dev root CA and a seal certificate (ECDSA P-256) as PEM files in ``directory``.

    The seal certificate names ``<public_base_url>/v1/pki/ca.crl`` as its CRL distribution
    point and ``<public_base_url>/v1/pki/ca.cert`` as AIA caIssuers (``public_base_url``
    None: :data:`DEV_PUBLIC_BASE_URL` for new keys, and existing keys are kept as they are).
    Existing files are kept unless ``overwrite``, except that a seal certificate naming
    another base URL than the ``public_base_url`` given is re-issued (same key, new serial).
    The CA's CRL (``ca.crl``) is issued when missing and renewed when half its validity has
    passed. Private keys are written with mode 0600.
    """
    paths = DevKeyPaths(
        directory / KEY_FILE,
        directory / CERT_FILE,
        directory / CA_CERT_FILE,
        directory / CA_KEY_FILE,
    )
    moment = now or datetime.now(UTC)
    exists = paths.key.exists() and paths.chain.exists() and paths.ca_cert.exists()
    if not overwrite and exists:
        if paths.ca_key.exists():
            if public_base_url is not None:
                _reissue_if_moved(paths, public_base_url, moment)
            pki.ensure_crl(directory, now=moment)
        return paths
    directory.mkdir(parents=True, exist_ok=True)
    base_url = public_base_url or DEV_PUBLIC_BASE_URL
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "HU"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "mchub development"),
            x509.NameAttribute(NameOID.COMMON_NAME, "mchub DEV root CA (not for production)"),
        ]
    )
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(moment - timedelta(minutes=5))
        .not_valid_after(moment + timedelta(days=valid_days * 2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    seal_key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "HU"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
            x509.NameAttribute(ORGANIZATION_IDENTIFIER_OID, organization_identifier),
            x509.NameAttribute(NameOID.COMMON_NAME, f"{organisation} DEV seal"),
        ]
    )
    seal_cert = issue_seal_certificate(
        subject,
        seal_key.public_key(),
        ca_cert,
        ca_key,
        public_base_url=base_url,
        not_before=moment - timedelta(minutes=5),
        not_after=moment + timedelta(days=valid_days),
    )
    _write_private(paths.ca_key, ca_key)
    _write_private(paths.key, seal_key)
    paths.ca_cert.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    _write_chain(paths.chain, seal_cert, ca_cert)
    (directory / CRL_FILE).unlink(missing_ok=True)  # a CRL of an earlier CA
    pki.ensure_crl(directory, now=moment)
    return paths


def issue_seal_certificate(
    subject: x509.Name,
    public_key: PublicKey,
    ca_cert: x509.Certificate,
    ca_key: SigningKey,
    *,
    public_base_url: str,
    not_before: datetime,
    not_after: datetime,
) -> x509.Certificate:
    """A seal (leaf) certificate issued by the dev CA, naming the CA's CRL and certificate
    under ``public_base_url`` (CRL Distribution Points, AIA caIssuers)."""
    crl_point = x509.DistributionPoint(
        full_name=[x509.UniformResourceIdentifier(crl_url(public_base_url))],
        relative_name=None,
        reasons=None,
        crl_issuer=None,
    )
    ca_issuers = x509.AccessDescription(
        x509.oid.AuthorityInformationAccessOID.CA_ISSUERS,
        x509.UniformResourceIdentifier(ca_cert_url(public_base_url)),
    )
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .add_extension(x509.CRLDistributionPoints([crl_point]), critical=False)
        .add_extension(x509.AuthorityInformationAccess([ca_issuers]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )


def _reissue_if_moved(paths: DevKeyPaths, public_base_url: str, moment: datetime) -> None:
    """Re-issue the dev seal certificate when it names another CRL URL (same key)."""
    chain = load_certificates(paths.chain)
    leaf = chain[0]
    if crl_distribution_points(leaf) == [crl_url(public_base_url)]:
        return
    ca_cert = load_certificates(paths.ca_cert)[0]
    ca_key = load_private_key(paths.ca_key)
    try:
        leaf.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):
        return  # not a certificate of this dev CA (a production seal): leave it alone
    renewed = issue_seal_certificate(
        leaf.subject,
        load_private_key(paths.key).public_key(),
        ca_cert,
        ca_key,
        public_base_url=public_base_url,
        not_before=moment - timedelta(minutes=5),
        not_after=max(leaf.not_valid_after_utc, moment + timedelta(days=1)),
    )
    _write_chain(paths.chain, renewed, ca_cert)


def _write_chain(path: Path, leaf: x509.Certificate, ca_cert: x509.Certificate) -> None:
    """Write a PEM chain atomically (a concurrent reader sees the old or the new file)."""
    data = leaf.public_bytes(serialization.Encoding.PEM) + ca_cert.public_bytes(
        serialization.Encoding.PEM
    )
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    partial.write_bytes(data)
    os.replace(partial, path)


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=not cert_sign,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _write_private(path: Path, key: SigningKey) -> None:
    data = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def dev_signer(directory: Path, *, public_base_url: str | None = None) -> Signer:
    """The development signer in ``directory``, generated on first use (its certificate
    names the CRL under ``public_base_url``; see :func:`generate_dev_keys`)."""
    paths = generate_dev_keys(directory, public_base_url=public_base_url)
    return load_signer(paths.key, paths.chain)
