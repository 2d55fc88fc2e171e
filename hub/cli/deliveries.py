"""``mchub deliveries --credential ID [--json]``: the delivery ledger of one credential.

Shows, for every change of the credential and every destination, the latest ledger
state: ``delivered`` (destination status, response id, attempts, time), ``failed``
(status, reason, body digest; the item is in ``dlq.out.<destination>``), ``parked``
(held back behind an earlier change of the credential that was refused or parked, or
kept failing while the destination served others; redriven automatically, or by
``mchub redrive``), ``skipped`` or ``pending`` (the destination is unavailable and the
connector keeps retrying).
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer

from connectors.delivery.ledger import LedgerRecord, read_ledger
from hub.settings import load_settings

COLUMNS = ("EVENT", "DESTINATION", "STATE", "STATUS", "ATTEMPTS", "AT", "DETAIL")


def deliveries(
    credential: Annotated[
        str, typer.Option("--credential", help="credential id (the connectors' ordering key)")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="print a JSON array")] = False,
    timeout: Annotated[float, typer.Option(help="seconds to read the ledger")] = 30.0,
) -> None:
    """Show the delivery ledger of one credential: delivered, failed, parked or pending."""
    settings = load_settings()
    records = asyncio.run(read_ledger(settings, credential_id=credential, timeout=timeout))
    if as_json:
        print(json.dumps([r.model_dump(mode="json", by_alias=True) for r in records], indent=2))
        return
    if not records:
        print(f"no deliveries recorded for credential {credential}")
        return
    print(format_table(records))


def format_table(records: list[LedgerRecord]) -> str:
    """The ledger records as an aligned plain-text table."""
    rows = [COLUMNS, *(_row(r) for r in records)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS) - 1)]
    lines = [
        "  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[-1]])
        for row in rows
    ]
    return "\n".join(line.rstrip() for line in lines)


def _row(record: LedgerRecord) -> tuple[str, ...]:
    when = record.last_attempt_at or record.recorded_at
    if record.state == "delivered":
        detail = f"response {record.response_id}" if record.response_id else ""
    elif record.state == "failed":
        detail = f"{record.reason or 'refused'} (body {record.body_digest or '-'})"
    elif record.state == "skipped":
        detail = "not taken by this destination (nothing sent)"
    elif record.state == "parked":
        detail = f"{record.reason or 'parked'}; redriven automatically (or `mchub redrive`)"
    else:
        detail = f"retrying: {record.reason or 'unavailable'}"
    return (
        record.event_id,
        record.destination,
        record.state,
        str(record.status) if record.status is not None else "-",
        str(record.attempts),
        when.isoformat(timespec="seconds"),
        detail,
    )
