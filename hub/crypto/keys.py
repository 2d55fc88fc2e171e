"""Signing keys and X.509 chains: the :class:`Signer` and loading keys and chains from PEM.

Production points ``--key``/``--cert`` at the qualified seal's key and chain (leaf first);
those files are never rewritten. The development CA that makes a dev seal on first use is
:mod:`hub.crypto.devca`. ECDSA P-256 (ES256) is the default; RSA keys are accepted
and sign RS256 like the EDC sample. The file names and URL paths of the keys directory
(seal key and chain, CA certificate and key, CRL) are defined here for both.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID, ObjectIdentifier

from hub.errors import ConfigurationError

#: X.520 organizationIdentifier (ETSI EN 319 412-1 semantics, e.g. ``NTRHU-12345678``)
ORGANIZATION_IDENTIFIER_OID: Final = ObjectIdentifier("2.5.4.97")

KEY_FILE: Final = "seal.key.pem"
CERT_FILE: Final = "seal.chain.pem"
CA_CERT_FILE: Final = "ca.cert.pem"
CA_KEY_FILE: Final = "ca.key.pem"
#: the dev CA's current CRL (DER), issued by :mod:`hub.crypto.pki`
CRL_FILE: Final = "ca.crl"

#: where the issuer server publishes the dev CA's CRL and certificate (docs/naming.md)
CRL_PATH: Final = "/v1/pki/ca.crl"
CA_CERT_PATH: Final = "/v1/pki/ca.cert"
#: the public base URL a dev seal names when none is configured (the issuing settings' default)
DEV_PUBLIC_BASE_URL: Final = "http://localhost:8080"

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


def crl_url(public_base_url: str) -> str:
    """The dev CA's CRL under the issuer server's public base URL."""
    return public_base_url.rstrip("/") + CRL_PATH


def ca_cert_url(public_base_url: str) -> str:
    """The dev CA's certificate under the issuer server's public base URL."""
    return public_base_url.rstrip("/") + CA_CERT_PATH


def crl_distribution_points(cert: x509.Certificate) -> list[str]:
    """The URLs of a certificate's CRL Distribution Points extension (empty without one)."""
    try:
        points = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    except x509.ExtensionNotFound:
        return []
    return [
        name.value
        for point in points
        for name in point.full_name or ()
        if isinstance(name, x509.UniformResourceIdentifier)
    ]


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
