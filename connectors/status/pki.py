"""HTTP publication of the dev CA: ``GET /v1/pki/ca.crl`` and ``GET /v1/pki/ca.cert``.

The seal certificate names these URLs (CRL distribution point, AIA caIssuers) under the
hub's public base URL (:mod:`hub.crypto.keys`). The files come from the keys
directory given to :func:`pki_router` (a server whose data directory is not the
settings' one, e.g. the demo's local servers), else ``<data_dir>/keys`` of the
settings: ``ca.crl`` as issued by :mod:`hub.crypto.pki` (the code that holds the
CA key signs it; this server only reads the file, so it needs no private key) and
``ca.cert.pem``, served as DER. The files are read on each request, so a revocation is
visible at once. ``404`` while there is no dev CA (a production deployment publishes its
CA's CRL elsewhere).
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from fastapi import APIRouter, Request, Response

from hub.crypto.keys import CA_CERT_FILE, CA_CERT_PATH, CRL_FILE, CRL_PATH
from hub.settings import load_settings

CRL_MEDIA_TYPE: Final = "application/pkix-crl"
CERT_MEDIA_TYPE: Final = "application/pkix-cert"


def default_keys_dir() -> Path:
    """The keys directory of the settings: ``<data_dir>/keys``."""
    return load_settings().data_dir / "keys"


def pki_router(keys_dir: Path | None = None) -> APIRouter:
    """The routes serving the dev CA's CRL and certificate from ``keys_dir`` (default
    :func:`default_keys_dir`, looked up per request)."""
    router = APIRouter(tags=["pki"])

    def directory(_request: Request) -> Path:
        return keys_dir if keys_dir is not None else default_keys_dir()

    def missing(what: str) -> Response:
        return Response(f"no {what}\n", 404, media_type="text/plain")

    headers = {"Access-Control-Allow-Origin": "*", "Cache-Control": "no-cache"}

    @router.get(CRL_PATH, summary="The dev CA's certificate revocation list (DER)")
    def get_crl(request: Request) -> Response:
        try:
            data = (directory(request) / CRL_FILE).read_bytes()
        except OSError:
            return missing("CRL")
        return Response(data, 200, headers, media_type=CRL_MEDIA_TYPE)

    @router.get(CA_CERT_PATH, summary="The dev CA's certificate (DER)")
    def get_ca_cert(request: Request) -> Response:
        try:
            pem = (directory(request) / CA_CERT_FILE).read_bytes()
            cert = x509.load_pem_x509_certificate(pem)
        except (OSError, ValueError):
            return missing("CA certificate")
        der = cert.public_bytes(serialization.Encoding.DER)
        return Response(der, 200, headers, media_type=CERT_MEDIA_TYPE)

    return router
