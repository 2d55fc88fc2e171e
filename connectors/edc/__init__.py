"""European platforms (EDC / Europass): the fan-out destination and a local deposit endpoint.

- :mod:`connectors.edc.destination` :class:`EdcDestination`, :func:`edc_destination`
- :mod:`connectors.edc.registry`    which EDC wallet (user id or e-mail) a learner has
- :mod:`connectors.edc.multipart`   ``multipart/form-data`` bodies (``_credential``)
- :mod:`connectors.edc.endpoint`    :func:`running_edc_endpoint` for tests and the demo
"""

from __future__ import annotations

from connectors.edc.destination import (
    CREDENTIAL_PART,
    EdcDestination,
    EdcSettings,
    edc_destination,
    seal_issuer,
)
from connectors.edc.registry import EdcRegistry, EdcWallet

__all__ = [
    "CREDENTIAL_PART",
    "EdcDestination",
    "EdcRegistry",
    "EdcSettings",
    "EdcWallet",
    "edc_destination",
    "seal_issuer",
]
