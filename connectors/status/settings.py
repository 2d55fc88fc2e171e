"""Settings of credential issuing: the seal, the status database and its public URL.

Read from ``MCHUB_*`` variables (beside :class:`hub.settings.Settings`); the wallet and
EDC destinations and the status server take them from here unless given explicitly.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from connectors.crypto.keys import Signer, dev_signer, load_signer
from connectors.crypto.statuslist import DEV_STATUS_BASE_URL
from hub.errors import ConfigurationError
from hub.settings import load_settings


class IssuingSettings(BaseSettings):
    """Where the seal key, the status lists and their public URL are; ``MCHUB_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="MCHUB_", extra="ignore")

    status_base_url: str = Field(
        DEV_STATUS_BASE_URL,
        description="public URL prefix of the status lists: <prefix>/<list id> is served by "
        "the status server and written into every credential",
    )
    status_db: Path | None = Field(
        None, description="SQLite file of the status lists (default <data_dir>/status/status.db)"
    )
    seal_key: Path | None = Field(None, description="PEM private key of the seal (production)")
    seal_cert: Path | None = Field(None, description="PEM chain of the seal, leaf first")
    seal_key_password: SecretStr | None = Field(None, description="password of the seal key")

    def status_db_path(self) -> Path:
        """The status database file."""
        return self.status_db or load_settings().data_dir / "status" / "status.db"

    def signer(self) -> Signer:
        """The seal: ``MCHUB_SEAL_KEY``/``MCHUB_SEAL_CERT``, else the dev key in
        ``<data_dir>/keys`` (generated on first use)."""
        if self.seal_key is not None or self.seal_cert is not None:
            if self.seal_key is None or self.seal_cert is None:
                raise ConfigurationError("set both MCHUB_SEAL_KEY and MCHUB_SEAL_CERT")
            password = self.seal_key_password
            return load_signer(
                self.seal_key,
                self.seal_cert,
                password.get_secret_value().encode() if password is not None else None,
            )
        return dev_signer(load_settings().data_dir / "keys")
