"""``mchub audit credential ID``: everything the log knows about one credential.

Sources, all read from Kafka (read_committed) — the log alone, no database:

- ``canon.events.log``: the credential's events. The log is keyed by the credential id,
  so only the partition the default partitioner gives that key is read. Each event comes
  with its provenance (source system, source event id, SHA-256 of the raw bytes, receive
  time, the time the hub logged it, mapping and hub versions) and its chain link;
- ``canon.receipts.<feed>`` and ``canon.events.rejected``: holds, rejections and
  conflicts naming the credential key;
- ``out.deliveries.receipts``: the delivery ledger, per event and destination.

With ``as_of`` only what was recorded at or before that moment counts: the state then,
and the latest ledger state of each delivery then.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from connectors.delivery.ledger import LedgerRecord
from hub.contract.build import credential_id as credential_id_of
from hub.contract.codec import AvroCodec
from hub.errors import ConfigurationError
from hub.privacy.keystore import open_key_store
from hub.privacy.seal import readable_json
from hub.settings import Settings
from hub.stream.chain import partition_for, record_hash
from hub.stream.reading import partitions_of, read_all, read_topic
from hub.topics import CANONICAL_LOG, DELIVERY_RECEIPTS, FEEDS, REJECTIONS, source_receipts


def kafka_time(ms: int) -> str:
    """A Kafka record timestamp as ISO 8601 UTC (milliseconds)."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds")


def resolve(credential: str) -> tuple[str, str | None]:
    """(credential id, credential key if given): accepts either form."""
    try:
        return str(uuid.UUID(credential)), None
    except ValueError:
        if credential.count(":") < 2:
            raise ConfigurationError(
                f"{credential!r} is neither a credential id (UUID) nor a credential key "
                "(<feed>:<awarding body>:<code>)"
            ) from None
        return credential_id_of(credential), credential


async def credential_events(
    settings: Settings, cid: str, *, log_topic: str | None = None
) -> list[dict[str, Any]]:
    """The credential's canonical events in log order, with provenance and chain link."""
    topic = log_topic or settings.topic(CANONICAL_LOG)
    partitions = await partitions_of(settings, topic)
    key = cid.encode()
    wanted = partition_for(key, len(partitions))
    codec = AvroCodec()
    keys = open_key_store(settings)
    events: list[dict[str, Any]] = []
    start = dict.fromkeys(partitions, 1 << 62)
    start[wanted] = 0
    async for batch in read_topic(settings, topic, start=start):
        for record in batch:
            if record.key is None or bytes(record.key) != key or record.value is None:
                continue
            event, learner = readable_json(codec.decode(record.value), keys.get)
            env = event["envelope"]
            events.append(
                {
                    "eventId": env["eventId"],
                    "eventType": env["eventType"],
                    "partition": record.partition,
                    "offset": record.offset,
                    "loggedAt": kafka_time(record.timestamp),
                    "provenance": {
                        "sourceSystem": env["sourceSystem"],
                        "feed": env["feed"],
                        "sourceEventId": env["sourceEventId"],
                        "idempotencyKey": env["idempotencyKey"],
                        "rawSha256": env["rawSha256"],
                        "occurredAt": env["occurredAt"],
                        "receivedAt": env["receivedAt"],
                        "normalisedAt": kafka_time(record.timestamp),
                        "mappingVersion": env["mappingVersion"],
                        "hubVersion": env["hubVersion"],
                        "traceId": env["traceId"],
                    },
                    "chain": {"prevHash": env["prevHash"], "hash": record_hash(record.value)},
                    "warnings": env["warnings"],
                    "learner": learner,
                    "event": event,
                }
            )
    return events


async def verdicts(settings: Settings, credential_key: str) -> list[dict[str, Any]]:
    """Receipts (holds and final outcomes other than accept) and rejection records of a key."""
    found: list[dict[str, Any]] = []
    topics = [settings.topic(source_receipts(f)) for f in FEEDS]
    topics.append(settings.topic(REJECTIONS))
    for topic in topics:
        try:
            records = await read_all(settings, topic)
        except ConfigurationError:
            continue
        for record in records:
            if record.value is None:
                continue
            try:
                body = json.loads(record.value)
            except ValueError:
                continue
            if body.get("credentialKey") != credential_key:
                continue
            found.append(
                {
                    "topic": topic,
                    "recordedAt": kafka_time(record.timestamp),
                    "outcome": body.get("outcome"),
                    "final": body.get("final"),
                    "detail": body.get("detail"),
                    "rules": body.get("rules", []),
                    "idempotencyKey": body.get("idempotencyKey"),
                    "receiptId": body.get("receiptId"),
                    "rawSha256": body.get("rawSha256"),
                    "receivedAt": body.get("receivedAt"),
                }
            )
    found.sort(key=lambda v: (v["recordedAt"], v["topic"]))
    return found


async def ledger_records(settings: Settings) -> list[LedgerRecord]:
    """Every record of the delivery ledger, in topic order (empty when there is none)."""
    try:
        records = await read_all(settings, settings.topic(DELIVERY_RECEIPTS))
    except ConfigurationError:
        return []
    return [LedgerRecord.from_json(r.value) for r in records if r.value is not None]


def latest_deliveries(
    records: list[LedgerRecord], *, credential_id: str | None = None, as_of: datetime | None = None
) -> list[LedgerRecord]:
    """The latest ledger state per (event, destination), optionally as of a moment."""
    latest: dict[tuple[str, str], LedgerRecord] = {}
    for record in records:
        if credential_id is not None and record.credential_id != credential_id:
            continue
        if as_of is not None and record.recorded_at > as_of:
            continue
        latest[(record.event_id, record.destination)] = record
    return sorted(latest.values(), key=lambda r: (r.recorded_at, r.event_id, r.destination))


def state_of(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The credential's state after ``events`` (status, issuing and revoking events)."""
    status = "unknown"
    issued = revoked = None
    reason = None
    for item in events:
        if item["eventType"] == "issued":
            status = "revoked" if status == "revoked" else "active"
            issued = item["eventId"]
        elif item["eventType"] == "revoked":
            status = "revoked"
            revoked = item["eventId"]
            reason = item["event"].get("reason")
    return {"status": status, "issuedBy": issued, "revokedBy": revoked, "revocationReason": reason}


async def credential_history(
    settings: Settings, credential: str, *, as_of: datetime | None = None
) -> dict[str, Any]:
    """The whole history of one credential (the ``--json`` document of docs/audit.md)."""
    cid, key = resolve(credential)
    events = await credential_events(settings, cid)
    if key is None and events:
        key = events[0]["event"]["envelope"]["credentialKey"]
    found = await verdicts(settings, key) if key else []
    ledger = await ledger_records(settings)
    if as_of is not None:
        cutoff = as_of.astimezone(UTC).isoformat(timespec="milliseconds")
        events = [e for e in events if e["loggedAt"] <= cutoff]
        found = [v for v in found if v["recordedAt"] <= cutoff]
    deliveries = latest_deliveries(ledger, credential_id=cid, as_of=as_of)
    per_destination: dict[str, list[dict[str, Any]]] = {}
    for record in deliveries:
        per_destination.setdefault(record.destination, []).append(
            record.model_dump(mode="json", by_alias=True, exclude_none=True)
        )
    return {
        "credentialId": cid,
        "credentialKey": key,
        "asOf": as_of.isoformat() if as_of else None,
        "state": state_of(events),
        "events": events,
        "verdicts": found,
        "holds": [v for v in found if v["outcome"] == "hold"],
        "rejections": [v for v in found if v["outcome"] == "reject"],
        "conflicts": [v for v in found if v["outcome"] == "conflict"],
        "deliveries": per_destination,
    }


def format_history(doc: dict[str, Any]) -> str:
    """A plain-text rendering of :func:`credential_history` for people."""
    lines = [
        f"credential {doc['credentialId']}  key {doc['credentialKey'] or '-'}"
        + (f"  as of {doc['asOf']}" if doc["asOf"] else ""),
        f"state: {doc['state']['status']}"
        + (
            f" (revoked by {doc['state']['revokedBy']}, reason {doc['state']['revocationReason']})"
            if doc["state"]["revokedBy"]
            else ""
        ),
        "",
        "events:",
    ]
    if not doc["events"]:
        lines.append("  (none on the canonical log)")
    for e in doc["events"]:
        p = e["provenance"]
        lines.append(
            f"  {e['loggedAt']}  {e['eventType']:<8} {e['eventId']}  "
            f"p{e['partition']}@{e['offset']}"
        )
        lines.append(
            f"      from {p['sourceSystem']} event {p['sourceEventId']} "
            f"(received {p['receivedAt']}, raw sha256 {p['rawSha256'][:16]}…)"
        )
        lines.append(
            f"      mapping {p['mappingVersion']}, hub {p['hubVersion']}, "
            f"hash {e['chain']['hash'][:16]}… prev {(e['chain']['prevHash'] or '-')[:16]}…"
        )
    lines += ["", "holds, rejections, conflicts:"]
    others = [v for v in doc["verdicts"] if v["outcome"] in ("hold", "reject", "conflict")]
    if not others:
        lines.append("  (none)")
    for v in others:
        rules = ",".join(r.get("rule", "") for r in v["rules"]) or "-"
        lines.append(
            f"  {v['recordedAt']}  {v['outcome']:<8} {v['idempotencyKey']}  "
            f"{v['detail'] or ''} {rules}"
        )
    lines += ["", "deliveries:"]
    if not doc["deliveries"]:
        lines.append("  (none recorded)")
    for destination, records in sorted(doc["deliveries"].items()):
        for r in records:
            lines.append(
                f"  {destination:<9} {r['eventId']}  {r['state']:<9} "
                f"status {r.get('status', '-')}  at {r['recordedAt']}"
                + (f"  {r['reason']}" if r.get("reason") else "")
            )
    return "\n".join(lines)
