"""Signing keys and X.509 chains: a development CA and seal certificate, and loading
production keys and chains from PEM files.

Development material is an ECDSA P-256 root CA (self-signed) and a leaf "electronic seal"
certificate issued by it, written as PEM files into a directory (``var/keys`` by default,
never committed). Production points ``--key``/``--cert`` at the qualified seal's key and
chain (leaf first) instead. ECDSA P-256 (ES256) is the default; RSA keys are accepted and
sign RS256 like the EDC sample.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID, ObjectIdentifier

from hub.errors import ConfigurationError

#: X.520 organizationIdentifier (ETSI EN 319 412-1 semantics, e.g. ``NTRHU-12345678``)
ORGANIZATION_IDENTIFIER_OID: Final = ObjectIdentifier("2.5.4.97")

KEY_FILE: Final = "seal.key.pem"
CERT_FILE: Final = "seal.chain.pem"
CA_CERT_FILE: Final = "ca.cert.pem"
CA_KEY_FILE: Final = "ca.key.pem"

SigningKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey


@dataclass(frozen=True)
class Signer:
    """A private key with its certificate chain (leaf first) and the JOSE ``alg`` it signs."""

    key: SigningKey
    chain: tuple[x509.Certificate, ...]
    #: ``x5c`` and ``x5t#S256``, computed once: every signature's header carries them
    _x5c: tuple[str, ...] = field(init=False, repr=False, compare=False)
    _x5t_s256: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.chain:
            raise ConfigurationError("a signer needs at least its own certificate")
        spki = serialization.PublicFormat.SubjectPublicKeyInfo
        leaf_key = self.chain[0].public_key().public_bytes(serialization.Encoding.DER, spki)
        if leaf_key != self.key.public_key().public_bytes(serialization.Encoding.DER, spki):
            raise ConfigurationError("the private key does not match the leaf certificate")
        object.__setattr__(self, "_x5c", tuple(chain_x5c(self.chain)))
        object.__setattr__(self, "_x5t_s256", cert_thumbprint(self.chain[0]))

    @property
    def alg(self) -> str:
        """``ES256`` for EC P-256 keys, ``RS256`` for RSA keys."""
        if isinstance(self.key, ec.EllipticCurvePrivateKey):
            if not isinstance(self.key.curve, ec.SECP256R1):
                raise ConfigurationError("EC seal keys must be on P-256 (ES256)")
            return "ES256"
        return "RS256"

    @property
    def certificate(self) -> x509.Certificate:
        """The leaf (seal) certificate."""
        return self.chain[0]

    def x5c(self) -> list[str]:
        """The chain as JOSE ``x5c``: standard base64 DER, leaf first."""
        return list(self._x5c)

    def x5t_s256(self) -> str:
        """JOSE ``x5t#S256``: base64url SHA-256 of the leaf's DER."""
        return self._x5t_s256

    def organization_identifier(self) -> str | None:
        """The leaf's organizationIdentifier (the eIDAS identifier EDC wants), if any."""
        return organization_identifier(self.certificate)

    def organization_name(self) -> str | None:
        """The leaf's organizationName, if any."""
        values = self.certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
        return str(values[0].value) if values else None


@dataclass(frozen=True)
class DevKeyPaths:
    """Where :func:`generate_dev_keys` put its files."""

    key: Path
    chain: Path
    ca_cert: Path
    ca_key: Path


def b64url(data: bytes) -> str:
    """Base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Inverse of :func:`b64url` (padding optional)."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def chain_x5c(chain: Sequence[x509.Certificate]) -> list[str]:
    """A chain as JOSE ``x5c``: standard base64 DER of each certificate, in order."""
    return [base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode() for c in chain]


def cert_thumbprint(cert: x509.Certificate) -> str:
    """Base64url SHA-256 of a certificate's DER (JOSE ``x5t#S256``)."""
    return b64url(hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).digest())


def organization_identifier(cert: x509.Certificate) -> str | None:
    """A certificate subject's organizationIdentifier (OID 2.5.4.97), if present."""
    values = cert.subject.get_attributes_for_oid(ORGANIZATION_IDENTIFIER_OID)
    return str(values[0].value) if values else None


def generate_dev_keys(
    directory: Path,
    *,
    organisation: str = "Mikrotanúsítvány Hub (fejlesztői példány)",
    organization_identifier: str = "NTRHU-MCHUB-DEV",
    valid_days: int = 825,
    overwrite: bool = False,
    now: datetime | None = None,
) -> DevKeyPaths:
    """Create a dev root CA and a seal certificate (ECDSA P-256) as PEM files in ``directory``.

    Existing files are kept unless ``overwrite``; private keys are written with mode 0600.
    """
    paths = DevKeyPaths(
        directory / KEY_FILE,
        directory / CERT_FILE,
        directory / CA_CERT_FILE,
        directory / CA_KEY_FILE,
    )
    if not overwrite and paths.key.exists() and paths.chain.exists() and paths.ca_cert.exists():
        return paths
    directory.mkdir(parents=True, exist_ok=True)
    moment = now or datetime.now(UTC)
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
    seal_cert = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.COUNTRY_NAME, "HU"),
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
                    x509.NameAttribute(ORGANIZATION_IDENTIFIER_OID, organization_identifier),
                    x509.NameAttribute(NameOID.COMMON_NAME, f"{organisation} DEV seal"),
                ]
            )
        )
        .issuer_name(ca_name)
        .public_key(seal_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(moment - timedelta(minutes=5))
        .not_valid_after(moment + timedelta(days=valid_days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    _write_private(paths.ca_key, ca_key)
    _write_private(paths.key, seal_key)
    paths.ca_cert.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    paths.chain.write_bytes(
        seal_cert.public_bytes(serialization.Encoding.PEM)
        + ca_cert.public_bytes(serialization.Encoding.PEM)
    )
    return paths


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


def load_private_key(path: Path, password: bytes | None = None) -> SigningKey:
    """A PEM private key (EC P-256 or RSA); :class:`ConfigurationError` otherwise."""
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=password)
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigurationError(f"cannot load private key {path}: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise ConfigurationError(f"{path}: only EC P-256 and RSA keys can seal credentials")
    return key


def load_certificates(path: Path) -> list[x509.Certificate]:
    """All certificates of a PEM bundle, in file order (a chain: leaf first)."""
    try:
        certs = x509.load_pem_x509_certificates(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"cannot load certificates from {path}: {exc}") from exc
    if not certs:
        raise ConfigurationError(f"{path} holds no certificate")
    return certs


def load_signer(key_path: Path, cert_path: Path, password: bytes | None = None) -> Signer:
    """A :class:`Signer` from a PEM key and a PEM chain (leaf first)."""
    return Signer(load_private_key(key_path, password), tuple(load_certificates(cert_path)))


def dev_signer(directory: Path) -> Signer:
    """The development signer in ``directory``, generated on first use."""
    paths = generate_dev_keys(directory)
    return load_signer(paths.key, paths.chain)
