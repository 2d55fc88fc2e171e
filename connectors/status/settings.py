"""Settings of credential issuing: the seal, the status database and its public URL.

Read from ``MCHUB_*`` variables (beside :class:`hub.settings.Settings`); the wallet and
EDC destinations and the status server take them from here unless given explicitly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from hub.crypto.devca import dev_signer
from hub.crypto.keys import Signer, load_signer
from hub.errors import ConfigurationError
from hub.settings import load_settings

#: the issuer server's address on a development machine (``mchub demo`` sets the real one)
DEV_PUBLIC_BASE_URL: Final = "http://localhost:8080"


class IssuingSettings(BaseSettings):
    """Where the seal key, the status lists and their public URL are; ``MCHUB_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="MCHUB_", extra="ignore", populate_by_name=True)

    public_base_url: str = Field(
        DEV_PUBLIC_BASE_URL,
        description="public URL of the hub's issuer server (status lists, issuer profiles "
        "and keys, CA certificate and CRL); written into every credential, so in production "
        "an https address verifiers can reach",
    )
    status_base_url_override: str | None = Field(
        None,
        alias="MCHUB_STATUS_BASE_URL",
        description="status lists' URL prefix when not <public_base_url>/v1/status",
    )
    status_db: Path | None = Field(
        None, description="SQLite file of the status lists (default <data_dir>/status/status.db)"
    )
    seal_key: Path | None = Field(None, description="PEM private key of the seal (production)")
    seal_cert: Path | None = Field(None, description="PEM chain of the seal, leaf first")
    seal_key_password: SecretStr | None = Field(None, description="password of the seal key")

    @property
    def status_base_url(self) -> str:
        """Prefix of the status list URLs: ``<public_base_url>/v1/status`` unless overridden."""
        if self.status_base_url_override:
            return self.status_base_url_override
        return self.public_base_url.rstrip("/") + "/v1/status"

    def status_db_path(self) -> Path:
        """The status database file."""
        return self.status_db or load_settings().data_dir / "status" / "status.db"

    def signer(self) -> Signer:
        """The seal: ``MCHUB_SEAL_KEY``/``MCHUB_SEAL_CERT``, else the dev key in
        ``<data_dir>/keys`` (generated on first use; its certificate names the CRL under
        ``public_base_url``, re-issued when that moved)."""
        if self.seal_key is not None or self.seal_cert is not None:
            if self.seal_key is None or self.seal_cert is None:
                raise ConfigurationError("set both MCHUB_SEAL_KEY and MCHUB_SEAL_CERT")
            password = self.seal_key_password
            return load_signer(
                self.seal_key,
                self.seal_cert,
                password.get_secret_value().encode() if password is not None else None,
            )
        return dev_signer(load_settings().data_dir / "keys", public_base_url=self.public_base_url)
