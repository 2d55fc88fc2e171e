"""``mchub audit report``: what happened in a period, as JSON and a self-contained HTML page.

Counted from the log alone, by the time the hub recorded each record (Kafka timestamp)
within ``[from, to)``:

- issued / revoked / enrolment events on ``canon.events.log``, per source system and
  awarding body (the primary awarding body; for revocations the one in the credential
  key ``<feed>:<awarding body>:<code>``);
- rejected and conflicting events on ``canon.events.rejected``; held revocations from the
  receipts topics;
- revocations with their reasons;
- deliveries failed, parked or still pending (latest ledger state), and events of the period with
  no ledger record at a destination that has a ledger (outstanding);
- anomalies: holds never matched (no final receipt yet), conflicts;
- daily volumes (the chart on the page).

The HTML page embeds its CSS and an SVG chart: no scripts, no network.
"""

from __future__ import annotations

import html
import json
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hub.audit.history import kafka_time, latest_deliveries, ledger_records
from hub.contract.build import SOURCE_SYSTEMS
from hub.contract.codec import AvroCodec
from hub.errors import ConfigurationError, UndecodableInput
from hub.settings import Settings
from hub.stream.checkpoints import anchor_document, latest_checkpoint, trust_anchors
from hub.stream.reading import read_all, read_topic, to_millis
from hub.topics import CANONICAL_LOG, FEEDS, REJECTIONS, source_receipts

KINDS = ("issued", "revoked", "enrolment", "rejected", "conflict", "held")


def awarding_body_of_key(credential_key: str | None) -> str | None:
    """The awarding body id inside a credential key ``<feed>:<body>:<code>``."""
    if not credential_key or credential_key.count(":") < 2:
        return None
    return credential_key.split(":", 2)[1]


def _source_matches(source: str | None, feed: str | None, system: str | None) -> bool:
    if source is None:
        return True
    wanted = source.lower()
    return wanted in {(feed or "").lower(), (system or "").lower()}


async def period_report(
    settings: Settings,
    start: datetime,
    end: datetime,
    *,
    source: str | None = None,
    awarding_body: str | None = None,
) -> dict[str, Any]:
    """The report document (the ``report.json`` of docs/audit.md)."""
    if end <= start:
        raise ConfigurationError("--to must be after --from")
    start_ms, end_ms = to_millis(start) or 0, to_millis(end) or 0
    codec = AvroCodec()
    counts: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    daily: dict[str, Counter[str]] = defaultdict(Counter)
    revocations: list[dict[str, Any]] = []
    period_events: dict[str, dict[str, Any]] = {}

    def count(kind: str, system: str, body: str | None, ms: int) -> None:
        counts[(system, body or "-")][kind] += 1
        daily[kind_day(ms)][kind] += 1

    async for batch in read_topic(settings, settings.topic(CANONICAL_LOG), since_ms=start_ms):
        for record in batch:
            if record.timestamp >= end_ms or record.value is None:
                continue
            try:
                event = codec.decode(record.value).model_dump(mode="json", by_alias=True)
            except UndecodableInput:
                continue
            env = event["envelope"]
            etype = env["eventType"]
            if etype == "issued":
                bodies = event["credential"]["awardingBodies"]
                body = bodies[0].get("id") if bodies else None
            elif etype == "revoked":
                body = awarding_body_of_key(env["credentialKey"])
            else:
                body = (event.get("provider") or {}).get("id")
            if not _source_matches(source, env["feed"], env["sourceSystem"]):
                continue
            if awarding_body is not None and body != awarding_body:
                continue
            kind = etype if etype in ("issued", "revoked") else "enrolment"
            count(kind, env["sourceSystem"], body, record.timestamp)
            period_events[env["eventId"]] = {
                "eventId": env["eventId"],
                "eventType": etype,
                "credentialId": env["credentialId"],
                "loggedAt": kafka_time(record.timestamp),
            }
            if etype == "revoked":
                revocations.append(
                    {
                        "credentialId": env["credentialId"],
                        "credentialKey": env["credentialKey"],
                        "reason": event["reason"],
                        "reasonText": event.get("reasonText"),
                        "revokedOn": event["revokedOn"],
                        "sourceSystem": env["sourceSystem"],
                        "awardingBody": body,
                        "loggedAt": kafka_time(record.timestamp),
                    }
                )

    conflicts: list[dict[str, Any]] = []
    for record in await _read_optional(settings, settings.topic(REJECTIONS)):
        body_doc = _json(record.value)
        if body_doc is None or not start_ms <= record.timestamp < end_ms:
            continue
        feed = body_doc.get("feed")
        system = SOURCE_SYSTEMS.get(feed or "", feed or "-")
        ab = awarding_body_of_key(body_doc.get("credentialKey"))
        if not _source_matches(source, feed, system):
            continue
        if awarding_body is not None and ab != awarding_body:
            continue
        outcome = body_doc.get("outcome")
        kind = "conflict" if outcome == "conflict" else "rejected"
        count(kind, system, ab, record.timestamp)
        if kind == "conflict":
            conflicts.append(_verdict(body_doc, record.timestamp))

    holds: dict[str, dict[str, Any]] = {}
    finals: set[str] = set()
    for feed in FEEDS:
        for record in await _read_optional(settings, settings.topic(source_receipts(feed))):
            body_doc = _json(record.value)
            if body_doc is None or body_doc.get("scope") != "event":
                continue
            key = str(body_doc.get("idempotencyKey"))
            if body_doc.get("final"):
                finals.add(key)
                continue
            if body_doc.get("outcome") != "hold" or not start_ms <= record.timestamp < end_ms:
                continue
            system = SOURCE_SYSTEMS.get(feed, feed)
            ab = awarding_body_of_key(body_doc.get("credentialKey"))
            if not _source_matches(source, feed, system):
                continue
            if awarding_body is not None and ab != awarding_body:
                continue
            count("held", system, ab, record.timestamp)
            holds[key] = _verdict(body_doc, record.timestamp)
    unmatched = [h for k, h in holds.items() if k not in finals]

    ledger = latest_deliveries(await ledger_records(settings))
    destinations = sorted({r.destination for r in ledger})
    seen = {(r.event_id, r.destination) for r in ledger}
    failed = [
        r.model_dump(mode="json", by_alias=True, exclude_none=True)
        for r in ledger
        if r.state in ("failed", "pending", "parked") and r.event_id in period_events
    ]
    outstanding = [
        {**event, "destination": d}
        for event in period_events.values()
        for d in destinations
        if (event["eventId"], d) not in seen
    ]

    rows: list[dict[str, Any]] = [
        {"sourceSystem": system, "awardingBody": body, **{k: c.get(k, 0) for k in KINDS}}
        for (system, body), c in sorted(counts.items())
    ]
    totals = {k: sum(int(r[k]) for r in rows) for k in KINDS}
    return {
        "anchor": await _anchor(settings),
        "from": start.isoformat(),
        "to": end.isoformat(),
        "filters": {"source": source, "awardingBody": awarding_body},
        "generatedAt": datetime.now(UTC).isoformat(timespec="seconds"),
        "totals": totals,
        "bySourceAndAwardingBody": rows,
        "revocations": revocations,
        "deliveries": {
            "destinations": destinations,
            "failedOrPending": failed,
            "outstanding": outstanding,
        },
        "anomalies": {"holdsNeverMatched": unmatched, "conflicts": conflicts},
        "daily": [
            {"day": day, **{k: daily[day].get(k, 0) for k in KINDS}} for day in sorted(daily)
        ],
    }


def kind_day(ms: int) -> str:
    """The UTC day of a Kafka timestamp (``YYYY-MM-DD``)."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).date().isoformat()


async def _anchor(settings: Settings) -> dict[str, Any] | None:
    """The newest signed checkpoint when the report was made: the auditor keeps it and
    later detects a log cut short (``mchub audit verify --anchor report.json``)."""
    try:
        found = await latest_checkpoint(settings, trust_anchors(settings))
    except ConfigurationError:
        return None
    return None if found is None else anchor_document(*found)


async def _read_optional(settings: Settings, topic: str) -> list[Any]:
    try:
        return await read_all(settings, topic)
    except ConfigurationError:
        return []


def _json(value: bytes | None) -> dict[str, Any] | None:
    if value is None:
        return None
    try:
        doc = json.loads(value)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def _verdict(body: dict[str, Any], ms: int) -> dict[str, Any]:
    return {
        "recordedAt": kafka_time(ms),
        "feed": body.get("feed"),
        "outcome": body.get("outcome"),
        "idempotencyKey": body.get("idempotencyKey"),
        "credentialKey": body.get("credentialKey"),
        "detail": body.get("detail"),
        "rules": [r.get("rule") for r in body.get("rules", []) if isinstance(r, dict)],
    }


# -- HTML --------------------------------------------------------------------------------

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem;color:#1b1f24}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem}
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}
th,td{border:1px solid #c9d1d9;padding:.3rem .6rem;text-align:left}
th{background:#f0f3f6}td.n{text-align:right;font-variant-numeric:tabular-nums}
.muted{color:#57606a}.legend span{display:inline-block;margin-right:1rem}
.sw{display:inline-block;width:.8rem;height:.8rem;margin-right:.3rem;vertical-align:middle}
"""
COLOURS = {
    "issued": "#2da44e",
    "revoked": "#cf222e",
    "enrolment": "#8250df",
    "rejected": "#bf8700",
    "conflict": "#fb8500",
    "held": "#0969da",
}


def _table(headers: list[str], rows: list[list[Any]], numeric: set[int] | None = None) -> str:
    numeric = numeric or set()
    if not rows:
        return '<p class="muted">none</p>'
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="n">{c}</td>' if i in numeric else f"<td>{html.escape(str(c))}</td>"
            for i, c in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def daily_chart(daily: list[dict[str, Any]]) -> str:
    """An SVG grouped bar chart of daily volumes (one group per day)."""
    kinds = [k for k in KINDS if any(d[k] for d in daily)] or ["issued"]
    height, top, left, bar = 220, 20, 40, 12
    group = bar * len(kinds) + 16
    width = left + max(1, len(daily)) * group + 20
    peak = max([d[k] for d in daily for k in kinds] + [1])
    parts = [
        f'<svg id="daily-chart" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height + 50}" role="img" aria-label="daily volumes">',
        f'<line x1="{left}" y1="{top + height}" x2="{width - 10}" y2="{top + height}" '
        'stroke="#57606a"/>',
        f'<text x="4" y="{top + 10}" font-size="11">{peak}</text>',
        f'<text x="4" y="{top + height}" font-size="11">0</text>',
    ]
    for i, day in enumerate(daily):
        x0 = left + i * group + 8
        for j, kind in enumerate(kinds):
            h = round(day[kind] / peak * height)
            parts.append(
                f'<rect class="bar" x="{x0 + j * bar}" y="{top + height - h}" width="{bar - 2}" '
                f'height="{h}" fill="{COLOURS[kind]}"><title>{day["day"]} {kind}: '
                f"{day[kind]}</title></rect>"
            )
        parts.append(
            f'<text x="{x0}" y="{top + height + 16}" font-size="10">{day["day"][5:]}</text>'
        )
    parts.append("</svg>")
    legend = "".join(
        f'<span><i class="sw" style="background:{COLOURS[k]}"></i>{k}</span>' for k in kinds
    )
    return "".join(parts) + f'<p class="legend">{legend}</p>'


def render_html(doc: dict[str, Any]) -> str:
    """The report as one self-contained HTML page (inline CSS and SVG, no scripts)."""
    t = doc["totals"]
    filters = ", ".join(f"{k} = {v}" for k, v in doc["filters"].items() if v) or "none"
    summary = _table(
        ["issued", "revoked", "enrolment", "rejected", "conflict", "held"],
        [[t[k] for k in KINDS]],
        set(range(6)),
    )
    by_source = _table(
        ["source system", "awarding body", *KINDS],
        [
            [r["sourceSystem"], r["awardingBody"], *(r[k] for k in KINDS)]
            for r in doc["bySourceAndAwardingBody"]
        ],
        set(range(2, 2 + len(KINDS))),
    )
    revocations = _table(
        ["credential id", "reason", "text", "revoked on", "source", "awarding body"],
        [
            [
                r["credentialId"],
                r["reason"],
                r["reasonText"] or "",
                r["revokedOn"],
                r["sourceSystem"],
                r["awardingBody"] or "-",
            ]
            for r in doc["revocations"]
        ],
    )
    deliveries = doc["deliveries"]
    failed = _table(
        ["event", "destination", "state", "status", "reason"],
        [
            [r["eventId"], r["destination"], r["state"], r.get("status", "-"), r.get("reason", "")]
            for r in deliveries["failedOrPending"]
        ],
    )
    outstanding = _table(
        ["event", "type", "credential id", "destination", "logged at"],
        [
            [
                r["eventId"],
                r["eventType"],
                r["credentialId"] or "-",
                r["destination"],
                r["loggedAt"],
            ]
            for r in deliveries["outstanding"]
        ],
    )
    anomalies = doc["anomalies"]
    holds = _table(
        ["held at", "idempotency key", "credential key"],
        [
            [h["recordedAt"], h["idempotencyKey"], h["credentialKey"]]
            for h in anomalies["holdsNeverMatched"]
        ],
    )
    conflicts = _table(
        ["recorded at", "idempotency key", "credential key", "detail"],
        [
            [c["recordedAt"], c["idempotencyKey"], c["credentialKey"] or "-", c["detail"] or ""]
            for c in anomalies["conflicts"]
        ],
    )
    meta = html.escape(
        f"Period [{doc['from']}, {doc['to']}) · filters: {filters} · generated "
        f"{doc['generatedAt']} from the canonical log"
    )
    gaps = html.escape(
        "Events of the period without a ledger record at: "
        + (", ".join(deliveries["destinations"]) or "no destination has a ledger")
    )
    title = f"mchub audit report {doc['from'][:10]} – {doc['to'][:10]}"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title><style>{CSS}</style></head>
<body>
<h1>{html.escape(title)}</h1>
<p class="muted">{meta}</p>
<h2>Totals</h2>{summary}
<h2>Daily volumes</h2>{daily_chart(doc["daily"])}
<h2>By source system and awarding body</h2>{by_source}
<h2>Revocations</h2>{revocations}
<h2>Deliveries failed, parked or pending</h2>{failed}
<h2>Deliveries outstanding</h2>
<p class="muted">{gaps}</p>{outstanding}
<h2>Anomalies: holds never matched</h2>{holds}
<h2>Anomalies: conflicts</h2>{conflicts}
<h2>Anchor</h2>{_anchor_html(doc.get("anchor"))}
</body></html>
"""


def _anchor_html(anchor: dict[str, Any] | None) -> str:
    if not anchor:
        return '<p class="muted">no signed checkpoint on the log</p>'
    heads = ", ".join(f"partition {h['partition']}: {h['seq']}" for h in anchor["heads"])
    text = (
        f"Checkpoint #{anchor['checkpoint']} of {anchor['at']} by {anchor['signer']} "
        f"(records per partition: {heads or 'none'}). Keep this report: "
        "`mchub audit verify --anchor report.json` detects a log later cut short."
    )
    return (
        f'<p class="muted">{html.escape(text)}</p>'
        f'<pre style="white-space:pre-wrap;word-break:break-all;font-size:.7rem">'
        f"{html.escape(anchor['jws'])}</pre>"
    )


def write_report(doc: dict[str, Any], out: Path) -> tuple[Path, Path]:
    """Write ``report.json`` and ``report.html`` into ``out``; returns both paths."""
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / "report.json"
    html_path = out / "report.html"
    json_path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    html_path.write_text(render_html(doc), encoding="utf-8")
    return json_path, html_path
