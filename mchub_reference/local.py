"""Local stand-ins of every destination, for the demo and the fan-out benchmark.

:func:`local_destinations` starts, in background threads on free loopback ports:

- the reference national register (:func:`mchub_reference.register.service.running_register`)
  over a SQLite file;
- when the wallet or EDC package is installed: the hub's issuer server (status lists,
  issuer profiles and keys, the dev CA's certificate and CRL: what a verifier fetches) on
  a free loopback port chosen *before* anything is signed, and that address is the public
  base URL of the run (``MCHUB_PUBLIC_BASE_URL`` is set to it while the destinations
  run), so every credential names an address that answers;
- when the wallet package is installed: a local Open Badges 3.0 wallet host that every
  learner uses, and the wallet destination signing into it;
- when the EDC package is installed: a local EDC-style deposit endpoint with one demo
  wallet that every learner's credentials go to, and the EDC destination.

Keys and databases live under ``<data_dir>`` (``var/`` by default): the dev seal in
``keys/``, the status lists in ``status/status.db``, the wallet's sent credentials in
``wallet/issued.db``. With ``separate_process=True`` each server runs in a child process
of its own (the fan-out benchmark does this: real destinations are other machines).
"""

from __future__ import annotations

import json
import os
import socket
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
from hub.errors import ConfigurationError
from hub.stream.checkpoints import AnchorSource
from mchub_reference.register.service import running_register

if TYPE_CHECKING:
    from cryptography import x509

    from connectors.status import StatusPublisher


@dataclass
class LocalDestinations:
    """The running local destinations: base URLs and :class:`Destination` objects by name."""

    urls: dict[str, str] = field(default_factory=dict)
    destinations: dict[str, Destination] = field(default_factory=dict)
    #: destinations that could not be started, with the reason
    missing: dict[str, str] = field(default_factory=dict)
    register_db: Path | None = None
    #: the issuer server's address, the public base URL of the run's credentials (None
    #: without wallet and EDC)
    public_base_url: str | None = None


#: the variable the issuing settings read the public base URL from
PUBLIC_BASE_URL_VAR = "MCHUB_PUBLIC_BASE_URL"


def free_loopback_port(preferred: int = 0) -> int:
    """A TCP port free on 127.0.0.1 now (the issuer server binds it right after):
    ``preferred`` when it is free, else any."""
    for port in (preferred, 0) if preferred else (0,):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(sock.getsockname()[1])
    raise ConfigurationError("no free TCP port on 127.0.0.1 for the issuer server")


#: where a data directory remembers its issuer server's port between runs
ISSUER_PORT_FILE = "issuer-server.port"


def issuer_server_port(data_dir: Path) -> int:
    """The issuer server's port for a run on ``data_dir``: the port of the previous run
    when it is free (credentials issued then name it, so they stay verifiable), else a
    new one, remembered for the next run."""
    remembered = data_dir / ISSUER_PORT_FILE
    try:
        preferred = int(remembered.read_text().strip())
    except (OSError, ValueError):
        preferred = 0
    port = free_loopback_port(preferred)
    if port != preferred:
        data_dir.mkdir(parents=True, exist_ok=True)
        remembered.write_text(f"{port}\n")
    return port


@contextmanager
def public_base_url(url: str) -> Iterator[str]:
    """``MCHUB_PUBLIC_BASE_URL`` = ``url`` inside the block (restored after), so every
    ``issuing`` section of the settings loaded during the run, and every child
    process started in it, names the issuer server actually running."""
    before = os.environ.get(PUBLIC_BASE_URL_VAR)
    os.environ[PUBLIC_BASE_URL_VAR] = url
    try:
        yield url
    finally:
        if before is None:
            os.environ.pop(PUBLIC_BASE_URL_VAR, None)
        else:
            os.environ[PUBLIC_BASE_URL_VAR] = before


@contextmanager
def local_destinations(
    data_dir: Path,
    *,
    register_db: Path | None = None,
    wallet: bool = True,
    edc: bool = True,
    separate_process: bool = False,
    verify: bool = True,
    anchor: AnchorSource | None = None,
) -> Iterator[LocalDestinations]:
    """Start the register (SQLite ``register_db``, default ``<data_dir>/register.db``) and,
    when their packages are installed, a wallet host and an EDC endpoint; stop them after.

    With ``separate_process`` each server runs in a child process of its own (``python -m
    mchub_reference.local``), as real destinations would: their CPU work then does not
    compete with the connectors, or with each other, for an interpreter lock. The destination
    objects (signing, the status publisher) always live in this process. ``verify=False``
    makes the wallet host and the EDC endpoint accept credentials without checking
    seals and status (the wallet host still reads the signed JWT); the benchmark uses it:
    their checks are not the hub's cost. ``anchor`` makes the issuer server serve
    ``/v1/audit/anchor`` (in this process only).
    """
    found = LocalDestinations()
    db = (register_db or data_dir / "register.db").resolve()
    db.parent.mkdir(parents=True, exist_ok=True)
    found.register_db = db
    wanted = [n for n, on in (("wallet", wallet), ("edc", edc)) if on and available(n)]
    with ExitStack() as stack:
        status_port = 0
        if wanted:  # the issuer server's address first: the credentials will name it
            from hub.crypto.devca import generate_dev_keys

            status_port = issuer_server_port(data_dir)
            found.public_base_url = stack.enter_context(
                public_base_url(f"http://127.0.0.1:{status_port}")
            )
            # before a child could race to create them; the seal certificate names the
            # CRL under this address (re-issued, same key, when an earlier run's differs)
            generate_dev_keys(data_dir / "keys", public_base_url=found.public_base_url)
        servers = ["register", *(["status"] if wanted else []), *wanted]
        if separate_process:
            urls = stack.enter_context(
                local_servers_process(data_dir, db, servers, verify=verify, status_port=status_port)
            )
        else:
            urls = stack.enter_context(
                local_servers(
                    data_dir, db, servers, verify=verify, status_port=status_port, anchor=anchor
                )
            )
        found.urls["register"] = urls["register"]
        found.destinations["register"] = RegisterDestination()
        if wanted:
            if urls["status"] != found.public_base_url:  # pragma: no cover - bind checks
                raise ConfigurationError(
                    f"the issuer server runs at {urls['status']}, not {found.public_base_url}"
                )
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
    data_dir: Path,
    register_db: Path,
    servers: list[str],
    *,
    verify: bool = True,
    status_port: int = 0,
    anchor: AnchorSource | None = None,
) -> Iterator[dict[str, str]]:
    """Run the named ``servers`` (register, status, wallet, edc) in background threads;
    yields their base URLs by name. ``verify``: the wallet host checks status and the EDC
    endpoint checks seals. The status (issuer) server listens on ``status_port`` (0: any
    free port)."""
    urls: dict[str, str] = {}
    with ExitStack() as stack:
        if "register" in servers:
            urls["register"] = stack.enter_context(running_register(f"sqlite:///{register_db}"))
        if "status" in servers:
            from connectors.status import SqliteStatusStore, running_status_server

            store = stack.enter_context(SqliteStatusStore(data_dir / "status" / "status.db"))
            urls["status"] = stack.enter_context(
                running_status_server(
                    store, port=status_port, keys_dir=data_dir / "keys", anchor=anchor
                )
            )
        if "wallet" in servers:
            from mchub_reference.wallet_host import DEV_WALLET_TOKEN, running_wallet_host

            urls["wallet"] = stack.enter_context(
                running_wallet_host(
                    DEV_WALLET_TOKEN, trust_anchors=_anchors(data_dir), check_status=verify
                )
            )
        if "edc" in servers:
            from mchub_reference.edc_endpoint import running_edc_endpoint

            urls["edc"] = stack.enter_context(
                running_edc_endpoint(
                    {"demo": None},
                    trust_anchors=_anchors(data_dir) if verify else None,
                    check_revocation=verify,
                )
            )
        yield urls


def _anchors(data_dir: Path) -> list[x509.Certificate]:
    from hub.crypto.devca import generate_dev_keys
    from hub.crypto.keys import load_certificates

    return load_certificates(generate_dev_keys(data_dir / "keys").ca_cert)


@contextmanager
def local_servers_process(
    data_dir: Path,
    register_db: Path,
    servers: list[str],
    *,
    verify: bool = True,
    status_port: int = 0,
) -> Iterator[dict[str, str]]:
    """:func:`local_servers`, each server in a child process of its own; stopped (stdin
    closed) when the block ends."""
    mode = "verify" if verify else "no-verify"
    children = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mchub_reference.local",
                str(data_dir),
                str(register_db),
                mode,
                str(status_port),
                name,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for name in servers
    ]
    try:
        urls: dict[str, str] = {}
        for name, child in zip(servers, children, strict=True):
            assert child.stdout is not None
            line = child.stdout.readline()
            if not line:
                raise ConfigurationError(
                    f"the local {name} process exited ({child.wait()}) before starting"
                )
            urls.update(json.loads(line))
        yield urls
    finally:
        for child in children:
            if child.stdin is not None:
                child.stdin.close()
        for child in children:
            try:
                child.wait(20)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


@contextmanager
def _publisher(data_dir: Path, status_url: str) -> Iterator[StatusPublisher]:
    """A status publisher writing ``<data_dir>/status/status.db`` (served at ``status_url``)."""
    from connectors.status import SqliteStatusStore, StatusPublisher
    from hub.crypto.devca import dev_signer

    with SqliteStatusStore(data_dir / "status" / "status.db") as store:
        publisher = StatusPublisher(store, dev_signer(data_dir / "keys"), f"{status_url}/v1/status")
        publisher.republish()  # lists of an earlier run name that run's address
        yield publisher


def _wallet_destination(
    stack: ExitStack,
    found: LocalDestinations,
    data_dir: Path,
    publisher: StatusPublisher,
    url: str,
) -> None:
    from connectors.wallet import SentCredentials, WalletRegistry, wallet_destination
    from mchub_reference.wallet_host import DEV_WALLET_TOKEN

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
    data_dir, register_db, verify, status_port, *servers = argv
    with local_servers(
        Path(data_dir),
        Path(register_db),
        servers,
        verify=verify == "verify",
        status_port=int(status_port),
    ) as urls:
        print(json.dumps(urls), flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    _serve_until_stdin_closes(sys.argv[1:])
