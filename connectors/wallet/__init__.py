"""Learner wallets (Open Badges 3.0): the fan-out destination and a local wallet host.

- :mod:`connectors.wallet.destination` :class:`WalletDestination`, :func:`wallet_destination`
- :mod:`connectors.wallet.registry`    which wallet host a learner registered
- :mod:`connectors.wallet.host`        :func:`running_wallet_host`, an OB 3.0 API host for
  tests and the demo
"""

from __future__ import annotations

from connectors.wallet.destination import (
    CREDENTIALS_PATH,
    SentCredentials,
    WalletDestination,
    WalletSettings,
    wallet_destination,
)
from connectors.wallet.registry import WalletHost, WalletRegistry

__all__ = [
    "CREDENTIALS_PATH",
    "SentCredentials",
    "WalletDestination",
    "WalletHost",
    "WalletRegistry",
    "WalletSettings",
    "wallet_destination",
]
