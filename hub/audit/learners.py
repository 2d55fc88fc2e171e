"""``mchub learners erase|export``: a learner's right to erasure (GDPR Art. 17) and of
access (Art. 15), answered from the key store and the topics.

**Erase** destroys the learner's data keys in the key store (:mod:`hub.privacy.keystore`)
— from then on every sealed copy of the learner's identification, in every topic and
every replica, reads "erased" — and appends an erasure event to
``canon.learners.erasures`` (JSON, kept forever, keyed by the learner pseudonym: who was
erased when, why, how many keys, and the credential ids and enrolment events concerned,
found on the canonical log by the pseudonym). The register, which holds the learner's
data in clear, is asked to erase it too (``DELETE /learners/{educationId}`` at
``MCHUB_REGISTER_URL``); the event records whether it did. The signed credentials the
wallet connector kept for the learner's credentials (``MCHUB_WALLET_DB``) are deleted.
The canonical log is not touched, so ``mchub audit verify`` still passes: the chain
covers the ciphertext.

**Export** lists everything the hub holds on the learner: the key store's record, the
learner's canonical events (opened while the key exists), the register state records and
the delivery ledger entries of the learner's credentials, and the erasures.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from connectors.delivery.ledger import LedgerRecord
from connectors.register.models import CredentialChange
from connectors.register.table import TableRecord, table_tombstones
from hub import __version__, wire
from hub.adapters.kafka import make_producer
from hub.contract.codec import AvroCodec
from hub.errors import UndecodableInput
from hub.privacy.keystore import LearnerKeyStore, open_key_store
from hub.privacy.pseudonym import learner_pseudonym, learner_secret
from hub.privacy.seal import readable_json
from hub.settings import Settings
from hub.stream.chain import partition_for
from hub.stream.reading import ProgressHook, partitions_of, read_all, read_topic
from hub.topics import CANONICAL_LOG, DELIVERY_RECEIPTS, LEARNER_ERASURES, REGISTER_STATE


@dataclass
class LearnerRecords:
    """What the canonical log holds on one learner (found by pseudonym)."""

    credential_ids: list[str] = field(default_factory=list)
    enrolment_event_ids: list[str] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)


def pseudonym_of(settings: Settings, education_id: str) -> str:
    """The learner's keyed pseudonym in this deployment."""
    return learner_pseudonym(learner_secret(settings), education_id.strip())


async def learner_records(
    settings: Settings,
    pseudonym: str,
    keys: LearnerKeyStore | None = None,
    *,
    progress: ProgressHook | None = None,
) -> LearnerRecords:
    """The learner's canonical events (in log order per partition); with ``keys`` each
    event's JSON is opened (or shows "erased"), without them only ids are collected."""
    codec = AvroCodec()
    found = LearnerRecords()
    async for batch in read_topic(settings, settings.topic(CANONICAL_LOG), progress=progress):
        for record in batch:
            if record.value is None:
                continue
            try:
                event = codec.decode(record.value)
            except UndecodableInput:
                continue
            env = event.envelope
            if env.learner_key != pseudonym:
                continue
            if env.credential_id is not None:
                if env.credential_id not in found.credential_ids:
                    found.credential_ids.append(env.credential_id)
            else:
                found.enrolment_event_ids.append(env.event_id)
            if keys is not None:
                data, state = readable_json(event, keys.get)
                found.events.append({
                    "partition": record.partition,
                    "offset": record.offset,
                    "learner": state,
                    "event": data,
                })
    return found


async def erasures_of(settings: Settings, pseudonym: str | None = None) -> list[dict[str, Any]]:
    """The erasure events (of one learner, or all) on ``canon.learners.erasures``."""
    events = []
    for record in await read_all(settings, settings.topic(LEARNER_ERASURES)):
        if record.value is None:
            continue
        data = json.loads(record.value)
        if pseudonym is None or data.get("pseudonym") == pseudonym:
            events.append(data)
    return events


async def erase_learner(
    settings: Settings,
    education_id: str,
    *,
    reason: str,
    requested_by: str,
    progress: ProgressHook | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> dict[str, Any]:
    """Destroy the learner's keys and append the erasure event; returns the event."""
    pseudonym = pseudonym_of(settings, education_id)
    found = await learner_records(settings, pseudonym, progress=progress)
    keys = open_key_store(settings)
    try:
        erasure = keys.erase(pseudonym, reason=reason, at=now())
    finally:
        keys.close()
    await _tombstone_register_state(settings, found.credential_ids)
    wallet_copies = _forget_wallet_copies(settings, found.credential_ids)
    notified = await _notify_register(settings, education_id)
    event = {
        "type": "learner-erased",
        "pseudonym": pseudonym,
        "erasedAt": erasure.erased_at.isoformat(),
        "reason": reason,
        "requestedBy": requested_by,
        "keysDestroyed": erasure.keys_destroyed,
        "credentialIds": found.credential_ids,
        "enrolmentEventIds": found.enrolment_event_ids,
        "destinations": notified,
        "walletCopiesDeleted": wallet_copies,
        "hubVersion": __version__,
    }
    producer = make_producer(settings)
    await producer.start()
    try:
        await producer.send_and_wait(
            settings.topic(LEARNER_ERASURES), wire.dumps(event), key=pseudonym.encode()
        )
    finally:
        await producer.stop()
    return event


def _forget_wallet_copies(settings: Settings, credential_ids: list[str]) -> int:
    """Delete the signed credentials the wallet connector kept for the learner's
    credentials (``MCHUB_WALLET_DB``); 0 when there is no such file."""
    from connectors.wallet.destination import SentCredentials, sent_db_path

    path = sent_db_path(settings)
    if not path.exists():
        return 0
    sent = SentCredentials(path)
    try:
        return sent.forget(credential_ids)
    finally:
        sent.close()


async def _notify_register(settings: Settings, education_id: str) -> dict[str, Any]:
    """Ask the configured register to erase the learner; what it answered, per destination
    (``{}`` when no register is configured). A failure is recorded, not raised: the keys
    are gone already, and erasing again notifies again."""
    from connectors.fanout.register import erase_at_register
    from hub.errors import MchubError

    url = settings.fanout.register_url
    if not url:
        return {}
    try:
        done = await erase_at_register(url, education_id, token=settings.fanout.token("register"))
    except MchubError as exc:  # unavailable, unauthorised or refused: recorded, erase again
        return {"register": {"status": "failed", "error": str(exc)}}
    return {"register": {"status": "erased", "credentials": done.credentials_erased,
                         "enrolments": done.enrolments_erased}}


async def _tombstone_register_state(settings: Settings, credential_ids: list[str]) -> None:
    """Tombstones of the learner's credentials on the compacted register state topic, in
    the partition the projection writes each credential to, and of their rows in the
    register's typed tables (``register.*.table``)."""
    if not credential_ids:
        return
    topic = settings.topic(REGISTER_STATE)
    count = len(await partitions_of(settings, topic))
    # the typed tables' rows of each credential, as its last state wrote them
    wanted = set(credential_ids)
    rows: list[TableRecord] = []
    for record in await read_all(settings, topic):
        if record.key is None or record.value is None:
            continue
        if bytes(record.key).decode() in wanted:
            rows += table_tombstones(CredentialChange.model_validate_json(record.value))
    producer = make_producer(settings)
    await producer.start()
    try:
        for cid in credential_ids:
            key = cid.encode()
            await producer.send(topic, None, key=key, partition=partition_for(key, count))
        for table, row_key, _ in dict.fromkeys(rows):
            await producer.send(settings.topic(table), None, key=row_key)
        await producer.flush()
    finally:
        await producer.stop()


async def export_learner(
    settings: Settings, education_id: str, *, progress: ProgressHook | None = None
) -> dict[str, Any]:
    """The subject access export of one learner (see the module docstring)."""
    pseudonym = pseudonym_of(settings, education_id)
    keys = open_key_store(settings)
    try:
        held = keys.describe(pseudonym)
        found = await learner_records(settings, pseudonym, keys, progress=progress)
    finally:
        keys.close()
    wanted = set(found.credential_ids)
    state: dict[str, Any] = {}
    for record in await read_all(settings, settings.topic(REGISTER_STATE)):
        if record.key is not None and bytes(record.key).decode() in wanted:
            cid = bytes(record.key).decode()
            state[cid] = None if record.value is None else json.loads(record.value)
    deliveries = []
    for record in await read_all(settings, settings.topic(DELIVERY_RECEIPTS)):
        if record.value is None:
            continue
        entry = LedgerRecord.model_validate_json(record.value)
        if entry.credential_id in wanted or entry.event_id in found.enrolment_event_ids:
            deliveries.append(json.loads(entry.to_json()))
    return {
        "educationId": education_id.strip(),
        "pseudonym": pseudonym,
        "exportedAt": datetime.now(UTC).isoformat(),
        "keyStore": {
            "activeKeys": [{"kid": kid, "createdAt": at.isoformat()} for kid, at in held.active],
            "erasures": [
                {"erasedAt": e.erased_at.isoformat(), "reason": e.reason,
                 "keysDestroyed": e.keys_destroyed}
                for e in held.erasures
            ],
        },
        "credentialIds": found.credential_ids,
        "enrolmentEventIds": found.enrolment_event_ids,
        "canonicalEvents": found.events,
        "registerState": [state[c] for c in found.credential_ids if c in state],
        "deliveries": deliveries,
        "erasureEvents": await erasures_of(settings, pseudonym),
    }
