"""Helpers of the wallet/EDC integration tests: a status server, delivery through HttpSink,
and ``mchub verify`` as a real process."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from connectors.delivery.http_sink import HttpSink
from connectors.delivery.policy import CircuitBreaker, RetryPolicy
from connectors.delivery.sink import DeliveryResult
from connectors.fanout.base import (
    CanonicalItem,
    Destination,
    PreparingDestination,
    canonical_of,
    delivery_item,
)
from connectors.status import SqliteStatusStore, StatusPublisher, running_status_server
from tests.unit.wallet.issuing_support import DevSeal, dev_seal

REPO_ROOT = Path(__file__).resolve().parents[3]
FAST_RETRY = RetryPolicy(base=0.02, cap=0.1, jitter=0.5, max_attempts=3)


@dataclass(frozen=True)
class Issuing:
    """A dev seal, the status database behind a running status server, and its publisher."""

    seal: DevSeal
    publisher: StatusPublisher
    status_url: str
    db: Path


@contextmanager
def issuing(tmp_path: Path) -> Iterator[Issuing]:
    """Dev keys, a status database and the issuer server publishing it (and the CRL the
    seal certificate names).

    ``MCHUB_DATA_DIR`` is ``tmp_path`` meanwhile: the keys the hub publishes (and the
    issuer server serves) are those of ``<tmp_path>/keys``, not of the developer's ``var``.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MCHUB_DATA_DIR", str(tmp_path))
        patch.delenv("MCHUB_SUBJECT_ID_SECRET", raising=False)
        db = tmp_path / "status.db"
        with running_status_server(db) as url:
            # the seal certificate names the CRL this server serves from <tmp_path>/keys
            seal = dev_seal(tmp_path / "keys", public_base_url=url)
            store = SqliteStatusStore(db)
            try:
                pub = StatusPublisher(store, seal.signer, f"{url}/v1/status")
                yield Issuing(seal, pub, url, db)
            finally:
                store.close()


async def deliver(
    destination: Destination, base_url: str, item: CanonicalItem, token: str | None = None
) -> DeliveryResult | None:
    """What the fan-out does for one item: prepare (a batch of one), filter, then one
    HttpSink delivery (None: skipped)."""
    if isinstance(destination, PreparingDestination):
        destination.prepare([item])
    if not destination.wants(item):
        return None
    headers = {"Authorization": f"Bearer {token}"} if token else None
    async with HttpSink(
        base_url,
        destination=destination.name,
        build_request=lambda d: destination.build_request(canonical_of(d)),
        headers=headers,
        retry=FAST_RETRY,
        breaker=CircuitBreaker(failure_threshold=5, reset_timeout=0.1),
    ) as sink:
        return await sink.deliver(delivery_item(item))


def mchub_verify(
    path: Path, trust_anchor: Path | None, *extra: str
) -> subprocess.CompletedProcess[str]:
    """``mchub verify`` in a real process (the installed CLI's code path); an OB3 VC-JWT
    needs no trust anchor (its key is found through the issuer server)."""
    anchor = ["--trust-anchor", str(trust_anchor)] if trust_anchor is not None else []
    return subprocess.run(
        [sys.executable, "-m", "hub.cli.main", "verify", str(path), *anchor, *extra],
        capture_output=True, text=True, timeout=120, cwd=REPO_ROOT, check=False,
    )
