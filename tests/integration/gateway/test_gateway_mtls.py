"""Mutual TLS: a registered client certificate identifies its source (no API key)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from hub.gateway.server import running_gateway
from hub.settings import Settings
from tests.integration.gateway.conftest import Registry
from tests.support import shared_dir

SAMPLES = shared_dir() / "feeds" / "samples"
SUBJECT = "CN=fi31457.sis.example.hu,O=Example University"  # fi31457-own in the registry


def _cert(subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePrivateKey,
          signer: ec.EllipticCurvePrivateKey, *, ca: bool, san: str | None = None
          ) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(minutes=5))
               .not_valid_after(now + dt.timedelta(hours=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if san:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(san))]),
            critical=False)
    return builder.sign(signer, hashes.SHA256())


def _write(path: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
    path.with_suffix(".crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    path.with_suffix(".key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))


async def test_client_certificate_authenticates_its_source(
    applied_settings: Settings, registry: Registry, tmp_path: Path
) -> None:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mchub test CA")])
    ca = _cert(ca_name, ca_name, ca_key, ca_key, ca=True)
    _write(tmp_path / "ca", ca, ca_key)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    _write(tmp_path / "server", _cert(server_name, ca_name, server_key, ca_key, ca=False,
                                      san="127.0.0.1"), server_key)
    client_key = ec.generate_private_key(ec.SECP256R1())
    _write(tmp_path / "client", _cert(x509.Name.from_rfc4514_string(SUBJECT), ca_name,
                                      client_key, ca_key, ca=False), client_key)
    settings = applied_settings.with_section(
        "gateway", db=tmp_path / "gw.db", tls_certfile=tmp_path / "server.crt",
        tls_keyfile=tmp_path / "server.key", tls_ca_certs=tmp_path / "ca.crt")
    context = ssl.create_default_context(cafile=tmp_path / "ca.crt")
    context.load_cert_chain(tmp_path / "client.crt", tmp_path / "client.key")
    anonymous = ssl.create_default_context(cafile=tmp_path / "ca.crt")
    own = (SAMPLES / "he" / "01_kiallitas_tesztvezerelt_python.json").read_bytes()
    other = (SAMPLES / "he" / "02_kiallitas_agilis_projektmenedzsment.json").read_bytes()
    json_type = {"Content-Type": "application/json"}
    with running_gateway(settings, registry.path) as url:
        assert url.startswith("https://")
        async with httpx.AsyncClient(base_url=url, verify=context, timeout=30) as client:
            ok = await client.post("/v1/feeds/he/events", content=own, headers=json_type)
            assert ok.status_code == 202, ok.text
            refused = await client.post("/v1/feeds/he/events", content=other, headers=json_type)
            assert refused.status_code == 403  # fi31457-own may not send FI52804's events
            # a certificate and a key of different sources do not add up
            mixed = await client.post("/v1/feeds/he/events", content=own,
                                      headers={**json_type, **registry.auth("fir-central")})
            assert mixed.status_code == 401
        async with httpx.AsyncClient(base_url=url, verify=anonymous, timeout=30) as client:
            no_cert = await client.post("/v1/feeds/he/events", content=own, headers=json_type)
            assert no_cert.status_code == 401
