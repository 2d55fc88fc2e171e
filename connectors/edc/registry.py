"""Which EDC (Europass) wallet a learner's credentials go to.

The EDC wallet API addresses a wallet by its *wallet user id* (the id EDC gave the
learner's wallet, tied to an EU Login account) or, when only that is known, by the
learner's e-mail address. Neither is part of the canonical record, so the hub reads them
from a registry file (``MCHUB_EDC_REGISTRY``), filled when a learner links an EDC wallet::

    {
      "learners": {
        "77721222107": {"userId": "0f5d8c2e-2a7b-4c1e-9d3f-5b6a7c8d9e0f"},
        "75971935462": {"email": "varga.tibor@example.hu"}
      },
      "default": {"userId": "demo"}
    }

``userId`` wins over ``email``. ``default`` is for development and the demo only (every
unregistered learner's credential would land in that one wallet). A learner with no
entry and no default is *skipped* (ledger state ``skipped``): there is no EDC wallet to
deposit to.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from hub.errors import ConfigurationError
from hub.settings import read_json_config


@dataclass(frozen=True)
class EdcWallet:
    """An EDC wallet: by wallet user id, or by e-mail address."""

    user_id: str | None = None
    email: str | None = None

    def __post_init__(self) -> None:
        if not self.user_id and not self.email:
            raise ConfigurationError("an EDC wallet entry needs a userId or an email")

    def deposit_path(self) -> str:
        """``/v1/wallets/{userId}/credentials`` or ``/v1/wallets/email/{email}/credentials``."""
        if self.user_id:
            return f"/v1/wallets/{quote(self.user_id, safe='')}/credentials"
        assert self.email is not None
        return f"/v1/wallets/email/{quote(self.email, safe='@')}/credentials"


@dataclass(frozen=True)
class EdcRegistry:
    """EDC wallets by education ID, with an optional default (dev/demo)."""

    learners: Mapping[str, EdcWallet] = field(default_factory=dict)
    default: EdcWallet | None = None

    def for_learner(self, education_id: str) -> EdcWallet | None:
        """The learner's wallet, else the default, else None."""
        return self.learners.get(education_id, self.default)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> EdcRegistry:
        """Parse the JSON form (see the module docstring)."""

        def wallet(spec: Any, where: str) -> EdcWallet:
            if not isinstance(spec, Mapping):
                raise ConfigurationError(f"EDC registry: {where} must be an object")
            user, email = spec.get("userId"), spec.get("email")
            return EdcWallet(str(user) if user else None, str(email) if email else None)

        learners = {
            str(k): wallet(v, f"learner {k}") for k, v in dict(data.get("learners") or {}).items()
        }
        default = data.get("default")
        return cls(learners, wallet(default, "default") if default is not None else None)

    @classmethod
    def load(cls, path: Path) -> EdcRegistry:
        """Read the registry file."""
        return cls.from_json(read_json_config(path, "the EDC registry"))
