"""Fan-out settings from ``MCHUB_*`` environment variables (beside :class:`hub.settings.Settings`).

A destination's connector runs in ``mchub run`` only when its URL is set; the
register-state projection (canonical log → ``register.credentials.state``) always runs.
``MCHUB_REGISTER_TOKEN`` is the same variable the register service reads, so a hub and a
register configured from one environment agree on the bearer token.
"""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class FanoutSettings(BaseSettings):
    """Where the fan-out delivers; each field maps to ``MCHUB_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="MCHUB_", extra="ignore")

    register_url: str | None = Field(
        None, description="base URL of the national register; unset: no register connector"
    )
    register_token: SecretStr | None = Field(
        None, description="bearer token the register requires (the register reads it too)"
    )
    wallet_url: str | None = Field(
        None, description="base URL of the wallet (Open Badges) host; unset: no wallet connector"
    )
    wallet_token: SecretStr | None = Field(None, description="bearer token for the wallet host")
    edc_url: str | None = Field(
        None, description="base URL of the EDC-style deposit endpoint; unset: no EDC connector"
    )
    edc_token: SecretStr | None = Field(None, description="bearer token for the EDC endpoint")
    fanout_concurrency: int = Field(
        8, ge=1, le=256, description="concurrent HTTP requests per destination connector"
    )
    fanout_batch: int = Field(
        200, ge=1, description="canonical records per delivery batch (one transaction)"
    )
    register_batch: int = Field(
        200, ge=1, le=1000,
        description="changes per register request (POST /changes); 1: one PUT per change",
    )

    def urls(self) -> dict[str, str]:
        """The configured destinations: name -> base URL (only those that are set)."""
        found = {"register": self.register_url, "wallet": self.wallet_url, "edc": self.edc_url}
        return {name: url for name, url in found.items() if url}

    def token(self, name: str) -> str | None:
        """The bearer token of destination ``name``, if one is set."""
        secret: SecretStr | None = getattr(self, f"{name}_token", None)
        return secret.get_secret_value() if secret is not None else None
