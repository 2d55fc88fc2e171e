"""Status lists of the hub's credentials: persistence, revocation and HTTP publication.

- :mod:`connectors.status.store`     SQLite store (lists, credential → entry map, signed lists)
- :mod:`connectors.status.publisher` :class:`StatusPublisher`: idempotent allocation in
  per-issuer lists, revocation, signing
- :mod:`connectors.status.server`    ``GET /v1/status/{list id}`` (FastAPI), thread runner
- :mod:`connectors.status.client`    :class:`HttpStatusResolver` for the verifier
- :mod:`connectors.status.settings`  the seal and status database of the ``issuing``
  settings section: ``MCHUB_PUBLIC_BASE_URL`` (lists at
  ``<public base URL>/v1/status/<list id>``), ``MCHUB_STATUS_DB``,
  ``MCHUB_SEAL_KEY``/``MCHUB_SEAL_CERT``

Run the server with ``python -m connectors.status [--host H] [--port P] [--db FILE]``.
"""

from __future__ import annotations

from connectors.status.client import HttpStatusResolver, chain_resolvers
from connectors.status.publisher import StatusPublisher, hub_issuer_id, legacy_issuer_id
from connectors.status.server import (
    STATUS_PATH,
    create_status_app,
    running_app,
    running_status_server,
)
from connectors.status.settings import issuing_signer, status_db_path
from connectors.status.store import SqliteStatusStore
from hub.settings import Settings, load_settings


def status_publisher(settings: Settings | None = None) -> StatusPublisher:
    """A :class:`StatusPublisher` over the configured (``settings.issuing``, default
    :func:`~hub.settings.load_settings`) database, seal and public URL."""
    conf = settings or load_settings()
    return StatusPublisher(
        SqliteStatusStore(status_db_path(conf)), issuing_signer(conf), conf.issuing.status_base_url
    )


__all__ = [
    "STATUS_PATH",
    "HttpStatusResolver",
    "SqliteStatusStore",
    "StatusPublisher",
    "chain_resolvers",
    "create_status_app",
    "hub_issuer_id",
    "issuing_signer",
    "legacy_issuer_id",
    "running_app",
    "running_status_server",
    "status_db_path",
    "status_publisher",
]
