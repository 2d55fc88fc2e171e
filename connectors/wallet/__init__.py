"""Learner wallets (Open Badges 3.0): the fan-out destination and its wallet registry.

- :mod:`connectors.wallet.destination` :class:`WalletDestination`, :func:`wallet_destination`
- :mod:`connectors.wallet.registry`    which wallet host a learner registered

A wallet host for tests and the demo is a stand-in: :mod:`mchub_reference.wallet_host`.
"""

from __future__ import annotations

from connectors.wallet.destination import (
    CREDENTIALS_PATH,
    SentCredentials,
    WalletDestination,
    sent_db_path,
    wallet_destination,
    wallet_registry,
)
from connectors.wallet.registry import WalletHost, WalletRegistry

__all__ = [
    "CREDENTIALS_PATH",
    "SentCredentials",
    "WalletDestination",
    "WalletHost",
    "WalletRegistry",
    "sent_db_path",
    "wallet_destination",
    "wallet_registry",
]
