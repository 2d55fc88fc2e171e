"""Issuer documents on the issuer server: who issued an Open Badge, and with which key.

Routes (under the public base URL; the profile URL *is* the badge's ``issuer.id``):

``GET /v1/issuers/{scheme}/{id}``             the awarding body's OB 3.0 ``Profile`` (JSON)
``GET /v1/issuers/{scheme}/{id}/keys/{kid}``  one public JWK (``application/jwk+json``):
                                              the VC-JWT header ``kid`` dereferences here
``GET /v1/issuers/{scheme}/{id}/jwks``        every key, current first (JWK Set)
``GET /v1/keys/{kid}``, ``GET /v1/keys``       the same keys as the hub's own (the ``kid``
                                              of documents whose issuer is the sealing
                                              organisation, not a URL: the ELM status
                                              lists; their JWK's ``x5c`` chains to the
                                              seal CA)

Trust model: the hub signs on behalf of the awarding bodies with its one seal key, so
every issuer publishes the same key set — the hub's published keys
(:mod:`hub.crypto.jwks`, ``published-keys.json`` in the keys directory, keys
never removed, so badges signed before a rotation keep verifying) plus the current seal
certificate's key. Profiles exist only for awarding bodies the hub has signed for: the
wallet destination records each issuer Profile in the ``ob3_issuers`` table of the status
database when it signs (:class:`IssuerDirectory`); unknown issuers answer ``404``. The
server reads public material only.

:func:`ob3_issuing` bundles what signing an OB3 badge needs beyond the seal (public
base URL, pseudonym secret, key publication, issuer recording) for the destinations.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol
from urllib.parse import quote, unquote, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from hub.adapters.sqlite import open_database
from hub.crypto.jwks import (
    JWK_MEDIA_TYPE,
    JWKS_MEDIA_TYPE,
    Jwk,
    public_jwk,
    publish_key,
    published_keys,
    thumbprint,
)
from hub.crypto.keys import (
    CERT_FILE,
    Signer,
    cert_thumbprint,
    chain_x5c,
    load_certificates,
    organization_identifier,
)
from hub.crypto.pseudonym import load_subject_secret
from hub.crypto.vcjwt import sign_vc
from hub.errors import ConfigurationError
from hub.render.jsonld import OB3_CONTEXT, VC_V2_CONTEXT
from hub.settings import load_settings

ISSUERS_PATH: Final = "/v1/issuers"
#: the scheme of the sealing organisation's own issuer path (its eIDAS identifier)
SEALER_SCHEME: Final = "eidas"
SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS ob3_issuers (
    scheme     TEXT NOT NULL,
    ident      TEXT NOT NULL,
    issuer_id  TEXT NOT NULL,
    profile    TEXT NOT NULL,
    PRIMARY KEY (scheme, ident)
);
"""
_HEADERS: Final = {"Access-Control-Allow-Origin": "*", "Cache-Control": "max-age=300"}


def keys_dir_default() -> Path:
    """The hub's keys directory: ``<data_dir>/keys``."""
    return load_settings().data_dir / "keys"


def path_of(issuer_id: str) -> tuple[str, str]:
    """(scheme, id) of an issuer URL ``…/v1/issuers/<scheme>/<id>`` (percent-decoded)."""
    parts = urlsplit(issuer_id).path.rstrip("/").split("/")
    if len(parts) < 4 or parts[-3] != "issuers":
        raise ValueError(f"{issuer_id!r} is not an issuer URL of the hub")
    return unquote(parts[-2]), unquote(parts[-1])


class IssuerDirectory:
    """The OB3 issuer Profiles the hub has signed for, in the status database."""

    def __init__(self, path: Path | str | None) -> None:
        self._conn = open_database(path if path is not None else ":memory:")
        self._lock = threading.Lock()
        #: issuer id -> profile JSON already stored (saves a write per credential)
        self._known: dict[str, str] = {}
        with self._lock:
            self._conn.executescript(SCHEMA)

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()

    def record(self, profile: dict[str, Any]) -> None:
        """Remember an issuer Profile (``issuer`` of a badge); replaces an older version."""
        issuer_id = str(profile["id"])
        text = json.dumps(profile, ensure_ascii=False, sort_keys=True)
        if self._known.get(issuer_id) == text:
            return
        scheme, ident = path_of(issuer_id)
        with self._lock:
            self._conn.execute(
                "INSERT INTO ob3_issuers (scheme, ident, issuer_id, profile) VALUES (?,?,?,?) "
                "ON CONFLICT (scheme, ident) DO UPDATE SET issuer_id = excluded.issuer_id, "
                "profile = excluded.profile",
                (scheme, ident, issuer_id, text),
            )
            self._conn.commit()
            self._known[issuer_id] = text

    def profile(self, scheme: str, ident: str) -> dict[str, Any] | None:
        """The stored Profile of ``scheme``/``ident``, or None."""
        with self._lock:
            try:
                row = self._conn.execute(
                    "SELECT profile FROM ob3_issuers WHERE scheme = ? AND ident = ?",
                    (scheme, ident),
                ).fetchone()
            except sqlite3.OperationalError:
                return None
        return json.loads(row[0]) if row else None

    def issuer_ids(self) -> list[str]:
        """Every recorded issuer URL."""
        with self._lock:
            rows = self._conn.execute("SELECT issuer_id FROM ob3_issuers ORDER BY 1").fetchall()
        return [r[0] for r in rows]


def _seal_chain(keys_dir: Path, cert_path: Path | None) -> list[x509.Certificate]:
    cert_file = cert_path or keys_dir / CERT_FILE
    try:
        return load_certificates(cert_file) if cert_file.exists() else []
    except ConfigurationError:
        return []


def served_keys(keys_dir: Path, cert_path: Path | None = None) -> list[Jwk]:
    """The keys the server publishes: ``published-keys.json`` (current first), then the
    current seal certificate's key when that file does not hold it yet."""
    keys = published_keys(keys_dir)
    chain = _seal_chain(keys_dir, cert_path)
    if chain:
        public = chain[0].public_key()
        if isinstance(public, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
            jwk = public_jwk(public)
            kid = thumbprint(jwk)
            if all(k.get("kid") != kid for k in keys):
                alg = "ES256" if jwk["kty"] == "EC" else "RS256"
                keys.append(
                    {**jwk, "kid": kid, "alg": alg, "use": "sig", "x5c": chain_x5c(chain)}
                )
    return keys


def sealing_organisation(keys_dir: Path, cert_path: Path | None = None) -> tuple[str, str] | None:
    """(identifier, name) of the sealing organisation, from the current seal certificate:
    it is the issuer ``eidas/<identifier>`` (``organizationIdentifier``, else the
    certificate thumbprint), under which the keys of the ELM status lists are found."""
    chain = _seal_chain(keys_dir, cert_path)
    if not chain:
        return None
    ident = organization_identifier(chain[0]) or cert_thumbprint(chain[0])
    names = chain[0].subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    return ident, str(names[0].value) if names else ident


class _HasPath(Protocol):
    @property
    def path(self) -> Path | None: ...


def issuers_router(
    store: _HasPath,
    *,
    keys_dir: Path | None = None,
    cert_path: Path | None = None,
) -> APIRouter:
    """The issuer document routes over the status database of ``store`` and the keys
    directory (default ``<data_dir>/keys``; ``cert_path`` defaults to its seal chain)."""
    router = APIRouter()
    directory = IssuerDirectory(store.path)
    keys_at = keys_dir or keys_dir_default()
    if cert_path is None and keys_dir is None:
        cert_path = load_settings().issuing.seal_cert  # a production seal's chain, if any

    def keys() -> list[Jwk]:
        return served_keys(keys_at, cert_path)

    def profile(scheme: str, ident: str, request: Request) -> dict[str, Any] | None:
        found = directory.profile(scheme, ident)
        if found is None and scheme == SEALER_SCHEME:
            sealer = sealing_organisation(keys_at, cert_path)
            if sealer is not None and sealer[0] == ident:
                base = str(request.base_url).rstrip("/")
                found = {
                    "id": f"{base}{ISSUERS_PATH}/{scheme}/{quote(ident, safe='')}",
                    "type": ["Profile"],
                    "name": sealer[1],
                }
        return found

    def missing(what: str) -> Response:
        return Response(f"no {what}\n", 404, _HEADERS, media_type="text/plain")

    # {ident:path}: an identifier may hold "/" (sent as %2F, which the server decodes);
    # the key and key-set routes come first so the profile route does not swallow them
    @router.get(ISSUERS_PATH + "/{scheme}/{ident:path}/jwks", summary="The issuer's keys")
    def get_jwks(scheme: str, ident: str, request: Request) -> Response:
        if profile(scheme, ident, request) is None:
            return missing(f"issuer {scheme}/{ident}")
        return JSONResponse({"keys": keys()}, headers=_HEADERS, media_type=JWKS_MEDIA_TYPE)

    @router.get(ISSUERS_PATH + "/{scheme}/{ident:path}/keys/{kid}", summary="One public key")
    def get_key(scheme: str, ident: str, kid: str, request: Request) -> Response:
        if profile(scheme, ident, request) is None:
            return missing(f"issuer {scheme}/{ident}")
        for jwk in keys():
            if jwk.get("kid") == kid:
                return JSONResponse(jwk, headers=_HEADERS, media_type=JWK_MEDIA_TYPE)
        return missing(f"key {kid}")

    @router.get(ISSUERS_PATH + "/{scheme}/{ident:path}", summary="An issuer's OB3 Profile")
    def get_profile(scheme: str, ident: str, request: Request) -> Response:
        found = profile(scheme, ident, request)
        if found is None:
            return missing(f"issuer {scheme}/{ident}")
        doc = {"@context": [VC_V2_CONTEXT, OB3_CONTEXT], **found}
        return JSONResponse(doc, headers=_HEADERS)

    return router


# --- the signing side -------------------------------------------------------------------


@dataclass
class Ob3Issuing:
    """What signing OB3 badges needs beside the seal: the issuer server's public base URL,
    the pseudonym secret, the keys directory (key publication) and the issuer directory."""

    public_base_url: str
    subject_secret: bytes = field(repr=False)
    keys_dir: Path
    directory: IssuerDirectory

    def sign(self, badge: dict[str, Any], signer: Signer) -> str:
        """Record the badge's issuer, publish the key, sign the badge as a VC-JWT."""
        self.directory.record(badge["issuer"])
        publish_key(self.keys_dir, signer)
        return sign_vc(badge, signer)


class _Publisher(Protocol):
    @property
    def store(self) -> _HasPath: ...

    @property
    def public_base_url(self) -> str: ...


_contexts: dict[int, tuple[object, Ob3Issuing]] = {}
_contexts_lock = threading.Lock()


def ob3_issuing(
    publisher: _Publisher,
    *,
    public_base_url: str | None = None,
    keys_dir: Path | None = None,
    secret_loader: Callable[[Path], bytes] = load_subject_secret,
) -> Ob3Issuing:
    """The OB3 signing context of a status publisher (made once per publisher).

    The public base URL is the publisher's (``load_settings().issuing.public_base_url`` unless
    the publisher was given its server's real address).
    """
    with _contexts_lock:
        found = _contexts.get(id(publisher))
        if found is not None and found[0] is publisher:
            return found[1]
        base = (public_base_url or publisher.public_base_url).rstrip("/")
        keys_at = keys_dir or keys_dir_default()
        directory = IssuerDirectory(publisher.store.path)
        made = Ob3Issuing(base, secret_loader(keys_at), keys_at, directory)
        _contexts[id(publisher)] = (publisher, made)
        return made

