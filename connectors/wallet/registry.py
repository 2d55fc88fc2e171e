"""The wallet registry: which Open Badges wallet host a learner registered, and how to reach it.

A JSON file (``MCHUB_WALLET_REGISTRY``)::

    {
      "default": "national",
      "wallets": {
        "national": {"url": "https://wallet.example.hu", "tokenEnv": "MCHUB_WALLET_TOKEN"},
        "campus":   {"url": "https://badges.example.edu", "token": "s3cr3t"}
      },
      "learners": {"77721222107": "campus"}
    }

``wallets`` names the hosts (base URL of the OB 3.0 API, bearer token given inline or,
better, by the name of an environment variable); ``learners`` maps an education ID to the
host the learner registered; ``default`` is the host of everyone else (omit it to deliver
only to registered learners). ``MCHUB_WALLET_URL``/``MCHUB_WALLET_TOKEN`` alone define a
registry with that one host as ``default``. The hub remembers the *name* of the host a
credential went to (never the token), so a revocation notifies the host that holds it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from hub.errors import ConfigurationError
from hub.settings import read_json_config

DEFAULT_NAME: Final = "default"


@dataclass(frozen=True)
class WalletHost:
    """One wallet host: its name, OB 3.0 API base URL and bearer token."""

    name: str
    url: str
    token: str | None = None

    def __repr__(self) -> str:  # never print the token
        return f"WalletHost(name={self.name!r}, url={self.url!r})"


@dataclass(frozen=True)
class WalletRegistry:
    """Wallet hosts by name, the learners' registrations and the default host."""

    hosts: Mapping[str, WalletHost] = field(default_factory=dict)
    learners: Mapping[str, str] = field(default_factory=dict)
    default: str | None = None

    def __post_init__(self) -> None:
        unknown = {name for name in self.learners.values() if name not in self.hosts}
        if self.default is not None and self.default not in self.hosts:
            unknown.add(self.default)
        if unknown:
            raise ConfigurationError(f"wallet registry names unknown hosts: {sorted(unknown)}")

    @classmethod
    def single(cls, url: str, token: str | None = None) -> WalletRegistry:
        """A registry with one host, the default of every learner."""
        return cls({DEFAULT_NAME: WalletHost(DEFAULT_NAME, url, token)}, {}, DEFAULT_NAME)

    def for_learner(self, education_id: str) -> WalletHost | None:
        """The host the learner registered, else the default; None when neither exists."""
        name = self.learners.get(education_id, self.default)
        return self.hosts[name] if name is not None else None

    def host(self, name: str) -> WalletHost | None:
        """A host by name."""
        return self.hosts.get(name)

    @classmethod
    def from_json(
        cls,
        data: Mapping[str, Any],
        *,
        environ: Mapping[str, str] | None = None,
        fallback: WalletHost | None = None,
    ) -> WalletRegistry:
        """Parse the JSON form (see the module docstring).

        ``fallback`` (from ``MCHUB_WALLET_URL``) is added as host ``default`` unless the
        file defines a host of that name, and becomes the default host unless the file
        names one.
        """
        env = os.environ if environ is None else environ
        hosts: dict[str, WalletHost] = {}
        for name, spec in dict(data.get("wallets") or {}).items():
            if not isinstance(spec, Mapping) or not isinstance(spec.get("url"), str):
                raise ConfigurationError(f"wallet registry: host {name!r} needs a url")
            token = spec.get("token")
            if token is None and spec.get("tokenEnv"):
                token = env.get(str(spec["tokenEnv"]))
                if token is None:
                    raise ConfigurationError(
                        f"wallet registry: host {name!r} reads its token from "
                        f"${spec['tokenEnv']}, which is not set"
                    )
            hosts[str(name)] = WalletHost(str(name), str(spec["url"]), token)
        default = data.get("default")
        if fallback is not None:
            hosts.setdefault(fallback.name, fallback)
            default = default or fallback.name
        learners = {str(k): str(v) for k, v in dict(data.get("learners") or {}).items()}
        return cls(hosts, learners, str(default) if default else None)

    @classmethod
    def load(cls, path: Path, *, fallback: WalletHost | None = None) -> WalletRegistry:
        """Read the registry file."""
        return cls.from_json(read_json_config(path, "the wallet registry"), fallback=fallback)
