"""The hub's issuer server: what a verifier fetches to check a credential on its own.

``GET /v1/status/{list id}`` (status lists, below), ``/v1/issuers/...`` (OB3 issuer
profiles, keys and JWKS: :mod:`connectors.status.issuers`), ``/v1/pki/...`` (the dev
CA's certificate and CRL: :mod:`connectors.status.pki`) and ``/v1/audit/anchor`` (the
newest signed checkpoint of the canonical log, for auditors to keep; when the server is
given an anchor source), all under ``MCHUB_PUBLIC_BASE_URL``.

Status lists: serves the signed ``BitstringStatusListCredential`` (VC-JWT, media type
``application/vc+jwt``) that :class:`~connectors.status.publisher.StatusPublisher` stored
in the status database, so the server needs no private key. ``/status/{list id}`` is an
alias. Answers carry an ``ETag`` (the list version) and ``Cache-Control: no-cache`` —
caches may keep the list but must revalidate, so a revocation is visible at once — and
``Access-Control-Allow-Origin: *`` for browser wallets. Unknown lists: ``404``.

:func:`running_status_server` runs it in a background thread on a loopback port (tests,
the demo); :func:`serve` runs it in the foreground (``python -m connectors.status``).
:func:`running_app` is the thread runner shared by the local test servers.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

import uvicorn
from fastapi import FastAPI, Request, Response

from connectors.status.issuers import issuers_router
from connectors.status.pki import pki_router
from connectors.status.store import SqliteStatusStore
from hub.adapters.http_server import quiet_server, serving_in_thread
from hub.errors import ConfigurationError, MchubError
from hub.stream.checkpoints import AnchorSource

VC_JWT_MEDIA_TYPE: Final = "application/vc+jwt"
#: the path prefix the hub serves lists under (``<MCHUB_PUBLIC_BASE_URL>/v1/status``)
STATUS_PATH: Final = "/v1/status"
#: where auditors fetch the anchor (``mchub audit verify --anchor <base URL>/v1/audit/anchor``)
ANCHOR_PATH: Final = "/v1/audit/anchor"


def create_status_app(
    store: SqliteStatusStore, keys_dir: Path | None = None, *, anchor: AnchorSource | None = None
) -> FastAPI:
    """The issuer server over ``store`` and the keys directory ``keys_dir`` (its public
    files: published keys, seal chain, CA certificate and CRL; default
    ``<data_dir>/keys`` of the settings); ``anchor`` serves ``/v1/audit/anchor``."""
    app = FastAPI(
        title="mchub status lists",
        description="W3C Bitstring Status List credentials (VC-JWT) of the hub's credentials",
        version="1",
    )

    def serve_list(list_id: str, request: Request) -> Response:
        found = store.signed(list_id)
        headers = {"Access-Control-Allow-Origin": "*", "Cache-Control": "no-cache"}
        if found is None:
            return Response(
                f"no status list {list_id}\n", 404, headers, media_type="text/plain"
            )
        etag = f'"{list_id}-{found.version}"'
        headers["ETag"] = etag
        if etag in request.headers.get("if-none-match", ""):
            return Response(status_code=304, headers=headers)
        return Response(found.token, 200, headers, media_type=VC_JWT_MEDIA_TYPE)

    @app.get(STATUS_PATH + "/{list_id}", summary="A signed status list credential (VC-JWT)")
    def get_list(list_id: str, request: Request) -> Response:
        return serve_list(list_id, request)

    @app.get("/status/{list_id}", include_in_schema=False)
    def get_list_alias(list_id: str, request: Request) -> Response:
        return serve_list(list_id, request)

    @app.get("/v1/status", summary="The published lists")
    def list_lists() -> dict[str, list[str]]:
        return {"lists": store.list_ids()}

    if anchor is not None:

        @app.get(ANCHOR_PATH, summary="The newest signed checkpoint of the canonical log")
        async def get_anchor() -> Response:
            headers = {"Access-Control-Allow-Origin": "*", "Cache-Control": "no-cache"}
            try:
                doc = await anchor()
            except MchubError as exc:
                return Response(f"{exc}\n", 503, headers, media_type="text/plain")
            if doc is None:
                return Response("no signed checkpoint yet\n", 404, headers, media_type="text/plain")
            return Response(json.dumps(doc, indent=2), 200, headers, media_type="application/json")

    app.include_router(pki_router(keys_dir))  # /v1/pki: the dev CA's CRL and certificate
    # /v1/issuers: OB3 issuer profiles and keys
    app.include_router(issuers_router(store, keys_dir=keys_dir))
    return app


@contextmanager
def running_app(
    app: FastAPI, *, name: str, host: str = "127.0.0.1", port: int = 0
) -> Iterator[str]:
    """Run an ASGI app with uvicorn in a daemon thread; yields ``http://host:port``.

    ``port`` 0 picks a free port. The server stops when the block ends.
    """
    with serving_in_thread(quiet_server(app), name=name, host=host, port=port) as url:
        yield url


@contextmanager
def running_status_server(
    db: Path | str | SqliteStatusStore,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    keys_dir: Path | None = None,
    anchor: AnchorSource | None = None,
) -> Iterator[str]:
    """The status server over a status database (path, or an open store left open).

    Yields the server's base URL, which is what ``MCHUB_PUBLIC_BASE_URL`` must be for the
    credentials the hub issues (lists at ``<base URL>/v1/status/<list id>``, issuer
    documents at ``<base URL>/v1/issuers/...``, the CA's CRL at ``<base URL>/v1/pki/ca.crl``).
    """
    store = db if isinstance(db, SqliteStatusStore) else SqliteStatusStore(db)
    try:
        app = create_status_app(store, keys_dir, anchor=anchor)
        with running_app(app, name="mchub-status", host=host, port=port) as url:
            yield url
    finally:
        if not isinstance(db, SqliteStatusStore):
            store.close()


def serve(
    db: Path, *, host: str = "127.0.0.1", port: int = 8080, anchor: AnchorSource | None = None
) -> None:
    """Serve the status lists (and the anchor) in the foreground until interrupted."""
    store = SqliteStatusStore(db)
    try:
        config = uvicorn.Config(
            create_status_app(store, anchor=anchor),
            host=host,
            port=port,
            log_level="info",
            lifespan="off",
        )
        server = uvicorn.Server(config)
        server.run()
        if not server.started:
            raise ConfigurationError(f"the status server could not listen on {host}:{port}")
    finally:
        store.close()
