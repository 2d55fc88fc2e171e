"""European platforms (EDC / Europass): the fan-out destination and its registry.

- :mod:`connectors.edc.destination` :class:`EdcDestination`, :func:`edc_destination`
- :mod:`connectors.edc.registry`    which EDC wallet (user id or e-mail) a learner has
- :mod:`connectors.edc.multipart`   ``multipart/form-data`` bodies (``_credential``)

A deposit endpoint for tests and the demo is a stand-in: :mod:`mchub_reference.edc_endpoint`.
"""

from __future__ import annotations

from connectors.edc.destination import (
    CREDENTIAL_PART,
    EdcDestination,
    edc_destination,
    edc_registry,
    seal_issuer,
)
from connectors.edc.registry import EdcRegistry, EdcWallet

__all__ = [
    "CREDENTIAL_PART",
    "EdcDestination",
    "EdcRegistry",
    "EdcWallet",
    "edc_destination",
    "edc_registry",
    "seal_issuer",
]
