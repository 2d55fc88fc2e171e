"""The sample feeds end to end on the real broker into the wallet host and the EDC endpoint.

Core stream → canonical log → the wallet and EDC connectors of the fan-out (their own
consumer groups, Idempotency-Key, ledger) → the local OB 3.0 wallet host and EDC deposit
endpoint, with the status server publishing the revocations.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import httpx

from connectors.delivery.ledger import read_ledger
from connectors.edc import EdcRegistry, EdcWallet, edc_destination
from connectors.fanout.base import decode_canonical
from connectors.wallet import SentCredentials, WalletRegistry, wallet_destination
from hub.privacy.keystore import open_key_store
from hub.settings import Settings
from hub.topics import CANONICAL_LOG
from mchub_reference.edc_endpoint import running_edc_endpoint
from mchub_reference.wallet_host import running_wallet_host
from tests.integration.fanout.fanout_support import caught_up, hub_running, publish_samples
from tests.integration.wallet.servers_support import issuing
from tests.support_kafka import read_topic

TOKEN = "wallet-e2e"


async def test_samples_reach_the_wallet_host_and_edc_with_revocations(
    applied_settings: Settings, tmp_path: Path
) -> None:
    settings = applied_settings
    with (
        issuing(tmp_path) as env,
        running_wallet_host(TOKEN, trust_anchors=env.seal.anchors) as wallet_url,
        running_edc_endpoint(trust_anchors=env.seal.anchors, auto_create=True) as edc_url,
    ):
        destinations = {
            "wallet": wallet_destination(
                registry=WalletRegistry.single(wallet_url, TOKEN),
                publisher=env.publisher,
                sent=SentCredentials(tmp_path / "sent.db"),
            ),
            "edc": edc_destination(
                registry=EdcRegistry(default=EdcWallet(user_id="demo")), publisher=env.publisher
            ),
        }
        urls = {"wallet": wallet_url, "edc": edc_url}
        async with hub_running(settings, urls, destinations=destinations):
            await publish_samples(settings)
            await caught_up(settings, ["deliver-wallet", "deliver-edc"])

        records = await read_topic(settings, settings.topic(CANONICAL_LOG), timeout=5, settle=0.5)
        keys = open_key_store(settings)
        items = [decode_canonical(r.value, keys) for r in records]
        issued = {i.credential_id for i in items if i.event_type == "issued"}
        revoked = {i.credential_id for i in items if i.event_type == "revoked"}
        assert issued and revoked and revoked <= issued

        held = (
            await asyncio.to_thread(
                httpx.get, f"{wallet_url}/v1/credentials",
                headers={"Authorization": f"Bearer {TOKEN}"},
            )
        ).json()
        status = {h["id"].removeprefix("urn:uuid:"): h["status"] for h in held}
        assert set(status) == issued
        assert {c for c, s in status.items() if s == "revoked"} == revoked
        assert {s for c, s in status.items() if c not in revoked} == {"active"}

        deposited = (
            await asyncio.to_thread(httpx.get, f"{edc_url}/v1/wallets/demo/credentials")
        ).json()
        assert {d["id"].removeprefix("urn:credential:") for d in deposited} == issued
        assert all(env.publisher.is_revoked(c or "") for c in revoked)
        assert not any(env.publisher.is_revoked(c or "") for c in issued - revoked)

    enrolments = Counter(i.event_type for i in items if i.credential_id is None)
    assert enrolments
    ledger = await read_ledger(settings)
    states = Counter(
        (r.destination, next(i.event_type for i in items if i.event_id == r.event_id), r.state)
        for r in ledger
        if r.destination in ("wallet", "edc")
    )
    assert states == Counter(
        {
            ("wallet", "issued", "delivered"): len(issued),
            ("wallet", "revoked", "delivered"): len(revoked),
            ("edc", "issued", "delivered"): len(issued),
            ("edc", "revoked", "skipped"): len(revoked),
        }
    ) + Counter({(d, t, "skipped"): n for d in ("wallet", "edc") for t, n in enrolments.items()})
