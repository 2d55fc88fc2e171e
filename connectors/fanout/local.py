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
``wallet/issued.db``. With ``separate_process=True`` the servers run in a child process
(the fan-out benchmark does this: real destinations are other machines).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from connectors.fanout.base import Destination
from connectors.fanout.register import RegisterDestination
from connectors.fanout.workers import available
from connectors.register.service import running_register
from hub.errors import ConfigurationError

if TYPE_CHECKING:
    from connectors.status import StatusPublisher


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
    data_dir: Path,
    *,
    register_db: Path | None = None,
    wallet: bool = True,
    edc: bool = True,
    separate_process: bool = False,
    verify: bool = True,
) -> Iterator[LocalDestinations]:
    """Start the register (SQLite ``register_db``, default ``<data_dir>/register.db``) and,
    when their packages are installed, a wallet host and an EDC endpoint; stop them after.

    With ``separate_process`` the servers run in a child process (``python -m
    connectors.fanout.local``), as real destinations would: their CPU work then does not
    compete with the connectors for this process's interpreter lock. The destination
    objects (signing, the status publisher) always live in this process. ``verify=False``
    makes the wallet host and the EDC endpoint accept credentials without checking
    seals and status (the wallet host still reads the signed JWT); the benchmark uses it:
    their checks are not the hub's cost.
    """
    found = LocalDestinations()
    db = (register_db or data_dir / "register.db").resolve()
    db.parent.mkdir(parents=True, exist_ok=True)
    found.register_db = db
    wanted = [n for n, on in (("wallet", wallet), ("edc", edc)) if on and available(n)]
    if wanted:
        from connectors.crypto.keys import generate_dev_keys

        generate_dev_keys(data_dir / "keys")  # before a child could race to create them
    with ExitStack() as stack:
        servers = local_servers_process if separate_process else local_servers
        urls = stack.enter_context(servers(data_dir, db, wanted, verify=verify))
        found.urls["register"] = urls["register"]
        found.destinations["register"] = RegisterDestination()
        if wanted:
            publisher = stack.enter_context(_publisher(data_dir, urls["status"]))
            if "wallet" in wanted:
                _wallet_destination(stack, found, data_dir, publisher, urls["wallet"])
            if "edc" in wanted:
                _edc_destination(found, publisher, urls["edc"])
        for name, on in (("wallet", wallet), ("edc", edc)):
            if on and name not in found.urls:
                found.missing.setdefault(name, f"connectors.{name} is not installed")
        yield found


@contextmanager
def local_servers(
    data_dir: Path, register_db: Path, wanted: list[str], *, verify: bool = True
) -> Iterator[dict[str, str]]:
    """Run the register, and (when ``wanted``) the status server, the wallet host and the
    EDC endpoint in background threads; yields their base URLs by name. ``verify``: the
    wallet host and the EDC endpoint check what they receive."""
    urls: dict[str, str] = {}
    with ExitStack() as stack:
        urls["register"] = stack.enter_context(running_register(f"sqlite:///{register_db}"))
        if wanted:
            from connectors.crypto.keys import generate_dev_keys, load_certificates
            from connectors.status import SqliteStatusStore, running_status_server

            anchors = load_certificates(generate_dev_keys(data_dir / "keys").ca_cert)
            db = data_dir / "status" / "status.db"
            store = stack.enter_context(SqliteStatusStore(db))
            urls["status"] = stack.enter_context(running_status_server(store))
        if "wallet" in wanted:
            from connectors.wallet.host import DEV_WALLET_TOKEN, running_wallet_host

            urls["wallet"] = stack.enter_context(
                running_wallet_host(
                    DEV_WALLET_TOKEN, trust_anchors=anchors, check_status=verify
                )
            )
        if "edc" in wanted:
            from connectors.edc.endpoint import running_edc_endpoint

            urls["edc"] = stack.enter_context(
                running_edc_endpoint({"demo": None}, trust_anchors=anchors if verify else None)
            )
        yield urls


@contextmanager
def local_servers_process(
    data_dir: Path, register_db: Path, wanted: list[str], *, verify: bool = True
) -> Iterator[dict[str, str]]:
    """:func:`local_servers` in a child process; stopped (stdin closed) when the block ends."""
    command = [sys.executable, "-m", "connectors.fanout.local", str(data_dir), str(register_db),
               "verify" if verify else "no-verify", *wanted]
    child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        if not line:
            raise ConfigurationError(
                f"the local destinations process exited ({child.wait()}) before starting"
            )
        yield dict(json.loads(line))
    finally:
        if child.stdin is not None:
            child.stdin.close()
        try:
            child.wait(20)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


@contextmanager
def _publisher(data_dir: Path, status_url: str) -> Iterator[StatusPublisher]:
    """A status publisher writing ``<data_dir>/status/status.db`` (served at ``status_url``)."""
    from connectors.crypto.keys import dev_signer
    from connectors.status import SqliteStatusStore, StatusPublisher

    with SqliteStatusStore(data_dir / "status" / "status.db") as store:
        yield StatusPublisher(store, dev_signer(data_dir / "keys"), f"{status_url}/v1/status")


def _wallet_destination(
    stack: ExitStack, found: LocalDestinations, data_dir: Path, publisher: StatusPublisher,
    url: str,
) -> None:
    from connectors.wallet import SentCredentials, WalletRegistry, wallet_destination
    from connectors.wallet.host import DEV_WALLET_TOKEN

    sent = stack.enter_context(closing(SentCredentials(data_dir / "wallet" / "issued.db")))
    found.urls["wallet"] = url
    found.destinations["wallet"] = wallet_destination(
        registry=WalletRegistry.single(url, DEV_WALLET_TOKEN), publisher=publisher, sent=sent
    )


def _edc_destination(found: LocalDestinations, publisher: StatusPublisher, url: str) -> None:
    from connectors.edc import EdcRegistry, EdcWallet, edc_destination

    found.urls["edc"] = url
    found.destinations["edc"] = edc_destination(
        registry=EdcRegistry(default=EdcWallet(user_id="demo")), publisher=publisher
    )


def _serve_until_stdin_closes(argv: list[str]) -> None:
    """Child side of :func:`local_servers_process`: print the URLs, serve until EOF."""
    data_dir, register_db, verify, *wanted = argv
    with local_servers(
        Path(data_dir), Path(register_db), wanted, verify=verify == "verify"
    ) as urls:
        print(json.dumps(urls), flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    _serve_until_stdin_closes(sys.argv[1:])
