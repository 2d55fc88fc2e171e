"""``mchub redrive``: deliver the canonical log again to one destination, idempotently.

After an outage, or to onboard a new destination: the log is read from ``--from``
(offsets by timestamp, every partition, read_committed), optionally only one credential,
and each event goes through the destination's own filter and request builder with
``Idempotency-Key: <event id>`` — the same key as the live connector's, so a destination
applies each change once however often it receives it. Events of one credential are
delivered in log order.

Each outcome is recorded in the delivery ledger ``out.deliveries.receipts`` like a live
delivery (``delivered``/``failed``/``skipped``), with ``reason`` starting with
``redrive <redrive id>`` so ``mchub deliveries`` and ``mchub audit credential`` show that
it came from a redrive. The live connector's consumer offsets are not touched.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from connectors.delivery.ledger import LedgerRecord
from connectors.delivery.sink import SourcePosition
from connectors.fanout.base import CanonicalDecoder, Destination, FanoutConnector, connector
from hub.adapters.kafka import make_producer
from hub.audit.history import resolve
from hub.errors import ConfigurationError, UndecodableInput
from hub.settings import Settings
from hub.stream.reading import ProgressHook, read_topic, to_millis
from hub.topics import CANONICAL_LOG, DELIVERY_RECEIPTS


def destination_named(settings: Settings, name: str) -> Destination:
    """The :class:`Destination` of ``register``, ``wallet`` or ``edc``."""
    if name == "register":
        from connectors.fanout.register import RegisterDestination

        return RegisterDestination()
    try:
        from connectors.fanout.workers import destination_for
    except ImportError as exc:  # pragma: no cover - the fan-out package ships it
        raise ConfigurationError(f"destination {name!r} is not available: {exc}") from exc
    return destination_for(name, settings)


def destination_url(settings: Settings, name: str) -> tuple[str, str | None]:
    """(base URL, bearer token) of a destination from ``MCHUB_<NAME>_URL``/``_TOKEN``."""
    fanout = settings.fanout
    url = fanout.urls().get(name)
    if url is None:
        raise ConfigurationError(f"no URL for destination {name!r}: set MCHUB_{name.upper()}_URL")
    return url, fanout.token(name)


async def redrive(
    settings: Settings,
    destination: str,
    since: datetime,
    *,
    credential: str | None = None,
    base_url: str | None = None,
    token: str | None = None,
    target: Destination | None = None,
    batch_size: int = 200,
    progress: ProgressHook | None = None,
    **sink_options: Any,
) -> dict[str, Any]:
    """Re-deliver every event logged at or after ``since`` (optionally one credential)."""
    if base_url is None:
        base_url, token = destination_url(settings, destination)
    cid = resolve(credential)[0] if credential else None
    made = target or destination_named(settings, destination)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if destination == "register":
        sink_options.setdefault("retry_4xx_with_retry_after", True)
    runner: FanoutConnector = connector(
        settings, made, base_url, headers=headers | sink_options.pop("headers", {}), **sink_options
    )
    sink = runner.filtering_sink
    redrive_id = uuid.uuid4().hex[:12]
    producer = make_producer(settings)
    await producer.start()
    totals = {
        "events": 0, "delivered": 0, "failed": 0, "skipped": 0, "parked": 0, "undecodable": 0
    }
    try:
        pending = 0

        async def flush() -> None:
            for result in await sink.flush():
                totals[result.state] += 1
                record = LedgerRecord.from_result(result, destination)
                note = f"redrive {redrive_id}"
                record = record.model_copy(
                    update={"reason": f"{note}: {record.reason}" if record.reason else note}
                )
                await producer.send(
                    settings.topic(DELIVERY_RECEIPTS), record.to_json(), key=record.key
                )
            await producer.flush()

        topic = settings.topic(CANONICAL_LOG)
        decoder = CanonicalDecoder(settings)
        async for batch in read_topic(
            settings, topic, since_ms=to_millis(since), progress=progress
        ):
            for record in batch:
                if record.value is None:
                    continue
                if cid is not None and (record.key is None or bytes(record.key) != cid.encode()):
                    continue
                try:
                    item = decoder.delivery_item(record.value)
                except UndecodableInput:
                    totals["undecodable"] += 1
                    continue
                totals["events"] += 1
                sink.add(
                    replace(
                        item, source=SourcePosition(record.topic, record.partition, record.offset)
                    )
                )
                pending += 1
                if pending >= batch_size:
                    await flush()
                    pending = 0
        if pending:
            await flush()
    finally:
        await producer.stop()
        await runner.aclose()
    return {
        "redriveId": redrive_id,
        "destination": destination,
        "from": since.astimezone(UTC).isoformat(),
        "credentialId": cid,
        **totals,
    }
