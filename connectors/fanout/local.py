"""Local stand-ins of every destination, for the demo and the fan-out benchmark.

:func:`local_destinations` starts, in background threads on free loopback ports:

- the reference national register (:func:`connectors.register.service.running_register`)
  over a SQLite file;
- when the wallet package is installed: the status-list server (the wallet host fetches
  credential status from it), a local Open Badges 3.0 wallet host that every learner
  uses, and the wallet destination signing into it;
- when the EDC package is installed: a local EDC-style deposit endpoint with one demo
  wallet that every learner's credentials go to, and the EDC destination.

Keys and databases live under ``<data_dir>`` (``var/`` by default): the dev seal in
``keys/``, the status lists in ``status/status.db``, the wallet's sent credentials in
``wallet/issued.db``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from connectors.fanout.base import Destination
from connectors.fanout.register import RegisterDestination
from connectors.fanout.workers import available
from connectors.register.service import running_register


@dataclass
class LocalDestinations:
    """The running local destinations: base URLs and :class:`Destination` objects by name."""

    urls: dict[str, str] = field(default_factory=dict)
    destinations: dict[str, Destination] = field(default_factory=dict)
    #: destinations that could not be started, with the reason
    missing: dict[str, str] = field(default_factory=dict)
    register_db: Path | None = None


@contextmanager
def local_destinations(
    data_dir: Path, *, register_db: Path | None = None, wallet: bool = True, edc: bool = True
) -> Iterator[LocalDestinations]:
    """Start the register (SQLite ``register_db``, default ``<data_dir>/register.db``) and,
    when their packages are installed, a wallet host and an EDC endpoint; stop them after."""
    found = LocalDestinations()
    db = (register_db or data_dir / "register.db").resolve()
    db.parent.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        found.urls["register"] = stack.enter_context(running_register(f"sqlite:///{db}"))
        found.destinations["register"] = RegisterDestination()
        found.register_db = db
        wanted = [n for n, on in (("wallet", wallet), ("edc", edc)) if on]
        if any(available(n) for n in wanted):
            publisher = stack.enter_context(_status(data_dir))
            if "wallet" in wanted and available("wallet"):
                _start_wallet(stack, found, data_dir, publisher)
            if "edc" in wanted and available("edc"):
                _start_edc(stack, found, data_dir, publisher)
        for name in wanted:
            if name not in found.urls:
                found.missing.setdefault(name, f"connectors.{name} is not installed")
        yield found


@contextmanager
def _status(data_dir: Path) -> Iterator[object]:
    """The status server over ``<data_dir>/status/status.db`` and a publisher writing it."""
    from connectors.crypto.keys import dev_signer
    from connectors.status import SqliteStatusStore, StatusPublisher, running_status_server

    db = data_dir / "status" / "status.db"
    db.parent.mkdir(parents=True, exist_ok=True)
    store = SqliteStatusStore(db)
    try:
        with running_status_server(store) as url:
            yield StatusPublisher(store, dev_signer(data_dir / "keys"), f"{url}/v1/status")
    finally:
        store.close()


def _start_wallet(
    stack: ExitStack, found: LocalDestinations, data_dir: Path, publisher: object
) -> None:
    from connectors.crypto.keys import generate_dev_keys, load_certificates
    from connectors.status import StatusPublisher
    from connectors.wallet import SentCredentials, WalletRegistry, wallet_destination
    from connectors.wallet.host import DEV_WALLET_TOKEN, running_wallet_host

    assert isinstance(publisher, StatusPublisher)
    anchors = load_certificates(generate_dev_keys(data_dir / "keys").ca_cert)
    url = stack.enter_context(running_wallet_host(DEV_WALLET_TOKEN, trust_anchors=anchors))
    sent = SentCredentials(data_dir / "wallet" / "issued.db")
    stack.callback(sent.close)
    found.urls["wallet"] = url
    found.destinations["wallet"] = wallet_destination(
        registry=WalletRegistry.single(url, DEV_WALLET_TOKEN), publisher=publisher, sent=sent
    )


def _start_edc(
    stack: ExitStack, found: LocalDestinations, data_dir: Path, publisher: object
) -> None:
    from connectors.crypto.keys import generate_dev_keys, load_certificates
    from connectors.edc import EdcRegistry, EdcWallet, edc_destination
    from connectors.edc.endpoint import running_edc_endpoint
    from connectors.status import StatusPublisher

    assert isinstance(publisher, StatusPublisher)
    anchors = load_certificates(generate_dev_keys(data_dir / "keys").ca_cert)
    url = stack.enter_context(running_edc_endpoint({"demo": None}, trust_anchors=anchors))
    found.urls["edc"] = url
    found.destinations["edc"] = edc_destination(
        registry=EdcRegistry(default=EdcWallet(user_id="demo")), publisher=publisher
    )
