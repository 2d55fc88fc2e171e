"""Feed the register from the compacted topic ``register.credentials.state``.

Record contract (what the register expects from the topic's producer): key = the
credential id (UTF-8), value = one :class:`~connectors.register.models.CredentialChange`
as UTF-8 JSON (the push body plus ``credentialId``), carrying the credential's current
status and, for a revoked credential, its full record too. A tombstone (null value) is
skipped: the register never forgets a credential.

Each record is applied as a *snapshot* (see :func:`mchub_reference.register.store.decide`):
compaction may have removed the issuance, so a revoked state that carries its record
creates the credential as revoked. Offsets are committed after the records of a batch are
applied (at-least-once; the event id makes re-application a no-op). A record that cannot
be decoded is logged and skipped, so one bad record does not stop the partition.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from connectors.register.models import ApplyResult, CredentialChange
from hub.errors import UndecodableInput
from hub.settings import Settings
from hub.topics import REGISTER_STATE
from mchub_reference.register.store import RegisterStore

log = logging.getLogger(__name__)

#: logical consumer name (group ``<MCHUB_CONSUMER_GROUP>.register-state``)
CONSUMER_NAME = "register-state"


def decode_state_record(key: bytes | None, value: bytes | None) -> CredentialChange | None:
    """The change a state record carries; None for a tombstone.

    A value without ``credentialId`` takes the key; a key that differs from the value's
    ``credentialId`` is an error. Raises :class:`UndecodableInput` for anything invalid.
    """
    if value is None:
        return None
    try:
        data: Any = json.loads(value.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UndecodableInput(f"state record is not UTF-8 JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise UndecodableInput("state record is not a JSON object")
    key_id = key.decode("utf-8", errors="replace") if key is not None else None
    if key_id is not None:
        data.setdefault("credentialId", key_id)
    try:
        change = CredentialChange.model_validate(data)
    except ValidationError as exc:
        raise UndecodableInput(f"state record breaks the push contract: {exc}") from exc
    if key_id is not None and key_id != change.credential_id:
        raise UndecodableInput(
            f"state record key {key_id!r} differs from credentialId {change.credential_id!r}")
    return change


def apply_state_record(store: RegisterStore, key: bytes | None,
                       value: bytes | None) -> ApplyResult | None:
    """Decode and apply one record; None when it was skipped (tombstone or undecodable)."""
    try:
        change = decode_state_record(key, value)
    except UndecodableInput as exc:
        log.warning("register: skipping state record: %s", exc)
        return None
    if change is None:
        return None
    result = store.apply_change(change, snapshot=True)
    if result.status == "rejected":
        log.warning("register: state record of %s not applied: %s (%s)",
                    change.credential_id, result.reason, result.detail)
    return result


async def consume_state(settings: Settings, store: RegisterStore, stop: asyncio.Event, *,
                        on_result: Callable[[ApplyResult | None], None] | None = None,
                        poll_ms: int = 500) -> Counter[str]:
    """Apply ``register.credentials.state`` to ``store`` until ``stop`` is set.

    Returns the count of verdicts (``applied``, ``duplicate``, ``rejected``, ``skipped``).
    """
    from hub.adapters.kafka import make_consumer

    counts: Counter[str] = Counter()
    consumer = make_consumer(settings, settings.topic(REGISTER_STATE),
                             group=settings.group(CONSUMER_NAME))
    await consumer.start()
    try:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=poll_ms, max_records=500)
            if not batch:
                continue
            for records in batch.values():
                for record in records:
                    result = await asyncio.to_thread(apply_state_record, store, record.key,
                                                     record.value)
                    counts[result.status if result is not None else "skipped"] += 1
                    if on_result is not None:
                        on_result(result)
            await consumer.commit()
    finally:
        await consumer.stop()
    return counts
