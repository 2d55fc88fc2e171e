"""The fan-out end to end on the real broker: samples → canonical log → register (+ others)."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

from connectors.delivery.ledger import read_ledger
from connectors.fanout.base import CanonicalItem, decode_canonical
from connectors.fanout.state import STAGE_NAME
from connectors.register.models import CredentialChange
from hub.privacy.keystore import open_key_store
from hub.settings import Settings
from hub.topics import CANONICAL_LOG, REGISTER_STATE
from mchub_reference.register.consumer import apply_state_record, decode_state_record
from mchub_reference.register.sqlite_store import SqliteRegisterStore
from tests.integration.fanout.fanout_support import (
    Collector,
    IssuancesOnly,
    caught_up,
    free_port,
    get_json,
    hub_running,
    publish_samples,
    register,
)
from tests.support_kafka import read_topic


async def canonical_items(settings: Settings) -> list[CanonicalItem]:
    """Every record on the canonical log, decoded."""
    records = await read_topic(settings, settings.topic(CANONICAL_LOG), timeout=5, settle=0.5)
    keys = open_key_store(settings)
    return [decode_canonical(r.value, keys) for r in records]


def final_status(items: list[CanonicalItem]) -> dict[str, str]:
    """Expected register status per credential id."""
    status: dict[str, str] = {}
    for item in items:
        if item.credential_id is not None:
            status[item.credential_id] = "active" if item.event_type == "issued" else "revoked"
    return status


async def test_samples_reach_the_register_in_order_and_the_state_topic_compacts(
    applied_settings: Settings,
) -> None:
    settings = applied_settings
    with register() as (url, store):
        async with hub_running(settings, {"register": url}):
            await publish_samples(settings)
            await caught_up(settings, ["deliver-register", STAGE_NAME])
        items = await canonical_items(settings)
        expected = final_status(items)

        # every credential has its final status at the register; the three revocations won
        revoked = {cid for cid, s in expected.items() if s == "revoked"}
        feeds = {i.event["envelope"]["feed"] for i in items if i.event_type == "revoked"}
        assert feeds == {"he", "vet", "al"} and len(revoked) >= 3
        for cid, status in expected.items():
            state = await asyncio.to_thread(get_json, f"{url}/credentials/{cid}")
            assert state["status"] == status, (cid, state["history"])
            types = [h["eventType"] for h in state["history"]]
            assert types == (["issued", "revoked"] if status == "revoked" else ["issued"])
        # enrolments reach the register under the learner
        enrolments = [i for i in items if i.credential_id is None]
        assert enrolments
        for learner in {i.learner_id for i in enrolments}:
            doc = await asyncio.to_thread(get_json, f"{url}/learners/{learner}/enrolments")
            mine = {i.event_id for i in enrolments if i.learner_id == learner}
            assert {e["eventId"] for e in doc["enrolments"]} == mine
        # applied once each, never refused: no revocation came before its issuance
        assert sorted(e for e, _ in store.verdicts) == sorted(i.event_id for i in items)
        assert {v for _, v in store.verdicts} == {"applied"}

    ledger = await read_ledger(settings)
    delivered = [r for r in ledger if r.destination == "register"]
    assert {r.event_id for r in delivered} == {i.event_id for i in items}
    assert {(r.state, r.attempts) for r in delivered} == {("delivered", 1)}

    # the state topic: one decodable CredentialChange per credential event, keyed by id
    records = await read_topic(settings, settings.topic(REGISTER_STATE), timeout=5, settle=0.5)
    changes = [decode_state_record(r.key, r.value) for r in records]
    assert all(isinstance(c, CredentialChange) for c in changes)
    assert len(changes) == sum(1 for i in items if i.credential_id is not None)
    latest: dict[bytes, Any] = {}
    for record in records:  # what compaction keeps: the last record per key
        latest[record.key] = record
    compacted = SqliteRegisterStore(":memory:")
    try:
        for record in latest.values():
            result = apply_state_record(compacted, record.key, record.value)
            assert result is not None and result.status == "applied"
        for cid, status in expected.items():
            state = compacted.get_credential(cid)
            assert state is not None and state.status == status
            assert state.credential["title"]["hu"]  # the record survived compaction
    finally:
        compacted.close()


async def test_a_down_register_does_not_hold_back_another_destination(
    applied_settings: Settings,
) -> None:
    settings = applied_settings
    wallet = Collector()
    await wallet.up()
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    try:
        async with hub_running(
            settings,
            {"register": dead, "wallet": wallet.url},
            destinations={"wallet": IssuancesOnly()},
        ) as workers:
            await publish_samples(settings)
            await caught_up(settings, ["deliver-wallet", STAGE_NAME])
            connector = next(w for w in workers if w.name == "deliver-register")
            assert connector.stats.commits == 0  # type: ignore[attr-defined]
            assert connector.stats.pending_records > 0  # type: ignore[attr-defined]
    finally:
        await wallet.down()
    items = await canonical_items(settings)
    issued = {i.event_id for i in items if i.event_type == "issued"}
    assert {s.key for s in wallet.seen} == issued
    states: dict[str, dict[str, str]] = defaultdict(dict)
    for record in await read_ledger(settings):
        states[record.destination][record.event_id] = record.state
    assert {states["wallet"][e] for e in issued} == {"delivered"}
    others = {i.event_id for i in items} - issued
    assert {states["wallet"][e] for e in others} == {"skipped"}
    assert set(states["register"].values()) <= {"pending"}
