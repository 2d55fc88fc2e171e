"""Learner wallets as a fan-out destination: Open Badges 3.0 ``upsertCredential``.

===============================  =====================================================
canonical event                  what happens
===============================  =====================================================
``issued``                       the credential gets its revocation entry in the list
                                 of its OB3 issuer, the awarding body (idempotent:
                                 same credential, same index), is rendered as an OB 3.0
                                 ``OpenBadgeCredential`` (``render_ob3``) with a
                                 ``BitstringStatusListEntry``, signed as a VC-JWT
                                 (``sign_vc``) and sent to the learner's wallet host:
                                 ``POST {wallet}/ims/ob/v3p0/credentials``,
                                 ``Content-Type: text/plain``, body = the compact JWS,
                                 ``Authorization: Bearer <the host's token>``
``revoked``                      the status bit is set and the list re-signed
                                 (:meth:`StatusPublisher.revoke`); then the same signed
                                 credential is upserted again to the host that holds
                                 it, so the wallet re-checks its status now rather than
                                 at its next refresh (OB 3.0 has no revocation call)
``enrolled|withdrawn|completed`` skipped (``wants`` is False)
===============================  =====================================================

A learner with no registered wallet and no default host is skipped. A revocation of a
credential no wallet received is skipped too — after its bit is set, so the revocation
is published whatever the wallets hold.

Redelivery: the signed credential is kept per credential (compressed, in
``<data_dir>/wallet/issued.db``) with the event it came from; a redelivered issuance
sends the very same JWT again, and a revocation re-sends it to the same host.
"""

from __future__ import annotations

import threading
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from connectors.delivery.http_sink import HttpRequest
from connectors.fanout.base import CanonicalItem, issuances, revocations
from connectors.status import StatusPublisher, status_publisher
from connectors.status.issuers import ob3_issuing
from connectors.wallet.registry import WalletHost, WalletRegistry
from hub.adapters.sqlite import open_database
from hub.errors import ConfigurationError
from hub.render import RenderInput
from hub.render.ob3 import issuer_id, render_ob3
from hub.settings import Settings, load_settings

NAME: Final = "wallet"
#: the OB 3.0 API path of upsertCredential (relative to the host's base URL)
CREDENTIALS_PATH: Final = "/ims/ob/v3p0/credentials"
VC_JWT_CONTENT_TYPE: Final = "text/plain"
#: OB 3.0 upsertCredential's answer when the host holds the identical credential
NOT_MODIFIED: Final = 304


def wallet_registry(settings: Settings) -> WalletRegistry:
    """The registry: ``MCHUB_WALLET_REGISTRY``'s, with ``MCHUB_WALLET_URL`` (and
    ``MCHUB_WALLET_TOKEN``) as host ``default``."""
    url = settings.fanout.wallet_url
    fallback = WalletHost("default", url, settings.fanout.token(NAME)) if url else None
    if settings.wallet.registry is not None:
        return WalletRegistry.load(settings.wallet.registry, fallback=fallback)
    if fallback is None:
        raise ConfigurationError(
            "the wallet destination needs MCHUB_WALLET_URL or MCHUB_WALLET_REGISTRY"
        )
    return WalletRegistry({fallback.name: fallback}, {}, fallback.name)


def sent_db_path(settings: Settings) -> Path:
    """Where the signed credentials sent are kept (``MCHUB_WALLET_DB``, else
    ``<data_dir>/wallet/issued.db``)."""
    return settings.wallet.db or settings.data_dir / "wallet" / "issued.db"


@dataclass(frozen=True)
class SentCredential:
    """A signed credential the hub sent to a wallet host."""

    credential_id: str
    event_id: str
    wallet: str
    token: str


class SentCredentials:
    """The signed credentials sent to wallets, by credential id (SQLite, zlib-compressed)."""

    def __init__(self, path: Path | str) -> None:
        # NORMAL: losing the last rows to a power cut only means a re-rendered badge on
        # redelivery, or a skipped revocation notice (the list has it)
        self._conn = open_database(path, synchronous="NORMAL", autocommit=False)
        self._lock = threading.Lock()
        with self._lock, self._conn:
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS wallet_credentials ("
                " credential_id TEXT PRIMARY KEY, event_id TEXT NOT NULL,"
                " wallet TEXT NOT NULL, token BLOB NOT NULL, sent_at TEXT NOT NULL)"
            )

    def get(self, credential_id: str) -> SentCredential | None:
        """The credential last sent under this id, or None."""
        with self._lock:
            row = self._conn.execute(
                "SELECT event_id, wallet, token FROM wallet_credentials WHERE credential_id = ?",
                (credential_id,),
            ).fetchone()
        if row is None:
            return None
        return SentCredential(credential_id, row[0], row[1], zlib.decompress(row[2]).decode())

    def put(self, sent: SentCredential) -> None:
        """Remember (replace) what was sent for a credential."""
        with self._lock, self._conn:
            self._conn.execute(
                "INSERT OR REPLACE INTO wallet_credentials VALUES (?, ?, ?, ?, ?)",
                (
                    sent.credential_id,
                    sent.event_id,
                    sent.wallet,
                    zlib.compress(sent.token.encode(), 6),
                    datetime.now(UTC).isoformat(),
                ),
            )

    def forget(self, credential_ids: list[str]) -> int:
        """Delete what was sent for these credentials (a learner's erasure), overwriting
        the freed pages and truncating the write-ahead log; returns the rows deleted."""
        if not credential_ids:
            return 0
        with self._lock:
            self._conn.execute("PRAGMA secure_delete = ON")
            with self._conn:
                marks = ",".join("?" * len(credential_ids))
                deleted = self._conn.execute(
                    f"DELETE FROM wallet_credentials WHERE credential_id IN ({marks})",
                    tuple(credential_ids)).rowcount
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return int(deleted)

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._conn.close()


def upsert_request(host: WalletHost, token: str) -> HttpRequest:
    """OB 3.0 ``upsertCredential`` of a VC-JWT at ``host`` (absolute URL)."""
    headers = {"Content-Type": VC_JWT_CONTENT_TYPE, "Accept": "text/plain, application/json"}
    if host.token is not None:
        headers["Authorization"] = f"Bearer {host.token}"
    return HttpRequest(
        "POST", host.url.rstrip("/") + CREDENTIALS_PATH, content=token.encode("ascii"),
        headers=headers, accept_status=frozenset({NOT_MODIFIED}),
    )


@dataclass
class WalletDestination:
    """The wallet :class:`~connectors.fanout.base.Destination` (see the module docstring)."""

    registry: WalletRegistry
    publisher: StatusPublisher
    sent: SentCredentials
    name: str = NAME

    def wants(self, item: CanonicalItem) -> bool:
        """Issuances of learners with a wallet; revocations of credentials a wallet holds.

        Pure: reads the registry and what was sent, changes nothing (a revocation's status
        bit is set in :meth:`prepare`, so it is published even when no wallet is notified).
        """
        if item.credential_id is None:
            return False
        if item.event_type == "issued":
            host = self.registry.for_learner(item.learner_id)
            return item.elements is not None and host is not None
        if item.event_type == "revoked":
            held = self.sent.get(item.credential_id)
            return held is not None and self.registry.host(held.wallet) is not None
        return False

    def prepare(self, items: list[CanonicalItem]) -> None:
        """Claim the status entries of a batch's issuances (in their awarding bodies'
        lists) in one transaction, then set the status bits of its revocations.

        One commit (one sync to disk) per batch instead of one per credential; each
        :meth:`issue` then finds its entry in memory. The entries are on disk before any
        request of the batch is built.
        """
        wanted = issuances(items, self.registry.for_learner)
        if wanted:
            issuers = {c: self.issuer_of(item) for c, item in wanted.items()}
            self.publisher.allocate_many(wanted, issuers=issuers)
        for credential_id, reason in revocations(items):
            self.publisher.revoke(credential_id, reason)

    def issuer_of(self, item: CanonicalItem) -> str:
        """The OB3 issuer of an issuance's badge (its primary awarding body's profile URL,
        as :func:`render_ob3` names it): the issuer of the status list its entry is in."""
        assert item.elements is not None
        return issuer_id(item.elements["awardingBodies"][0], self.publisher.public_base_url)

    def build_request(self, item: CanonicalItem) -> HttpRequest:
        """The upsert of the signed credential (issuance) or of the held one (revocation)."""
        if item.credential_id is None:
            raise ValueError(f"{item.event_type} event {item.event_id} has no credential id")
        if item.event_type == "issued":
            host, token = self.issue(item)
            return upsert_request(host, token)
        if item.event_type == "revoked":
            self.revoke(item)
            held = self.sent.get(item.credential_id)
            holder = self.registry.host(held.wallet) if held is not None else None
            if held is None or holder is None:
                raise ValueError(f"no wallet holds credential {item.credential_id}")
            return upsert_request(holder, held.token)
        raise ValueError(f"the wallet takes no {item.event_type} events")

    def issue(self, item: CanonicalItem) -> tuple[WalletHost, str]:
        """The learner's host and the signed credential (the one sent before, if any)."""
        assert item.credential_id is not None and item.credential_key is not None
        if item.elements is None:
            raise ValueError(f"issuance {item.event_id} carries no elements")
        host = self.registry.for_learner(item.learner_id)
        if host is None:
            raise ValueError(f"learner of {item.event_id} has no wallet")
        held = self.sent.get(item.credential_id)
        if held is not None and held.event_id == item.event_id and held.wallet == host.name:
            return host, held.token
        issuer = self.issuer_of(item)
        ref = self.publisher.allocate(item.credential_id, issuer=issuer)
        ob3 = ob3_issuing(self.publisher)  # subject ids, issuer documents, published keys
        inp = RenderInput(
            item.credential_id,
            item.credential_key,
            item.elements,
            item.issued_at,
            ref,
            public_base_url=self.publisher.public_base_url,
            subject_secret=ob3.subject_secret,
        )
        badge = render_ob3(inp)
        if badge["issuer"]["id"] != issuer:  # the list's issuer must be the badge's
            raise ValueError(f"badge issuer {badge['issuer']['id']} is not {issuer}")
        token = ob3.sign(badge, self.publisher.signer)
        self.sent.put(SentCredential(item.credential_id, item.event_id, host.name, token))
        return host, token

    def revoke(self, item: CanonicalItem) -> bool:
        """Set the credential's revocation bit (idempotent); True when it changed now."""
        assert item.credential_id is not None
        reason = item.event.get("reason")
        _, changed = self.publisher.revoke(item.credential_id, str(reason) if reason else None)
        return changed


def wallet_destination(
    settings: Settings | None = None,
    *,
    registry: WalletRegistry | None = None,
    publisher: StatusPublisher | None = None,
    sent: SentCredentials | None = None,
) -> WalletDestination:
    """The wallet destination, configured from ``settings`` (default
    :func:`~hub.settings.load_settings`) unless given explicitly.

    ``registry`` (else :func:`wallet_registry`), ``publisher`` (else the status database,
    seal and public URL of ``settings.issuing``), ``sent`` (else :func:`sent_db_path`).
    """
    conf = settings or load_settings()
    chosen = registry or wallet_registry(conf)
    if len(chosen.hosts) > 1:
        tokenless = sorted(h.name for h in chosen.hosts.values() if h.token is None)
        if tokenless:
            raise ConfigurationError(
                f"wallet hosts {tokenless} have no token: with several hosts each needs its "
                "own (the connector's default token must never go to another host)"
            )
    return WalletDestination(
        registry=chosen,
        publisher=publisher or status_publisher(conf),
        sent=sent or SentCredentials(sent_db_path(conf)),
    )
