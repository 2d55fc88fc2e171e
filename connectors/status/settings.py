"""Issuing from the ``issuing`` section of :class:`hub.settings.Settings`: the seal and
the status database (``MCHUB_SEAL_*``, ``MCHUB_STATUS_DB``, ``MCHUB_PUBLIC_BASE_URL``).

The wallet and EDC destinations and the status server take them from here unless given
explicitly.
"""

from __future__ import annotations

from pathlib import Path

from hub.crypto.devca import dev_signer
from hub.crypto.keys import Signer, load_signer
from hub.errors import ConfigurationError
from hub.settings import Settings


def status_db_path(settings: Settings) -> Path:
    """The status database file (``MCHUB_STATUS_DB``, else ``<data_dir>/status/status.db``)."""
    return settings.issuing.status_db or settings.data_dir / "status" / "status.db"


def issuing_signer(settings: Settings) -> Signer:
    """The seal: ``MCHUB_SEAL_KEY``/``MCHUB_SEAL_CERT``, else the dev key in
    ``<data_dir>/keys`` (generated on first use; its certificate names the CRL under
    ``public_base_url``, re-issued when that moved)."""
    issuing = settings.issuing
    if issuing.seal_key is not None or issuing.seal_cert is not None:
        if issuing.seal_key is None or issuing.seal_cert is None:
            raise ConfigurationError("set both MCHUB_SEAL_KEY and MCHUB_SEAL_CERT")
        password = issuing.seal_key_password
        return load_signer(
            issuing.seal_key,
            issuing.seal_cert,
            password.get_secret_value().encode() if password is not None else None,
        )
    return dev_signer(settings.data_dir / "keys", public_base_url=issuing.public_base_url)
