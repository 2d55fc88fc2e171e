"""``mchub status [--json]``: the hub's stage groups as the Kafka cluster sees them.

For every stage of the hub (ingest, decide, the register-state projection and one
delivery connector per destination) its consumer group (``Settings.group(stage)``): the
group's state, its members (client id, host) with their partitions, and per partition
the committed offset, the end and the lag. The end is the **last stable offset** (a
``read_committed`` consumer's end offsets), so a partition whose every committed record
has been processed shows lag 0 although a transaction marker follows its last record.
A partition the group never committed counts from the log's start. A group without
members is "not running" (its committed offsets, if any, are still shown).

The reading is :mod:`hub.adapters.groups`. Any number of ``mchub run`` processes may form
the groups: this reads the cluster, not a process, and needs nothing but
``MCHUB_BOOTSTRAP`` and the prefixes.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from typing import Annotated

import typer

from hub.adapters.groups import GroupStatus, stage_groups
from hub.settings import Settings, load_settings


def hub_stages() -> list[str]:
    """The hub's stage names, one consumer group each, in pipeline order."""
    from connectors.fanout.state import STAGE_NAME
    from connectors.fanout.workers import FACTORIES

    return ["ingest", "decide", STAGE_NAME, *(f"deliver-{d}" for d in ("register", *FACTORIES))]


async def hub_status(settings: Settings, *, timeout: float = 30.0) -> list[GroupStatus]:
    """The status of every stage group of the hub (:func:`hub_stages`)."""
    return await stage_groups(settings, hub_stages(), timeout=timeout)


def render_table(groups: Sequence[GroupStatus]) -> str:
    """The human view: one block per group, members and a partition table."""
    lines: list[str] = []
    for status in groups:
        head = f"{status.stage} ({status.group}): {status.state}"
        if status.running:
            count = len(status.members)
            head += f", {count} member{'s' if count != 1 else ''}, lag {status.lag}"
        elif status.partitions:
            head += f", committed lag {status.lag}"
        lines.append(head)
        labels = {m.member_id: f"m{i}" for i, m in enumerate(status.members, 1)}
        for member in status.members:
            lines.append(
                f"  {labels[member.member_id]} {member.client_id}@{member.host}: "
                f"{member.owned()}"
            )
        if status.partitions:
            rows = [("topic", "partition", "committed", "end", "lag", "member")] + [
                (
                    p.topic,
                    str(p.partition),
                    "-" if p.committed is None else str(p.committed),
                    str(p.end),
                    str(p.lag),
                    labels.get(p.member or "", "-"),
                )
                for p in status.partitions
            ]
            widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
            for row in rows:
                cells = [
                    cell.ljust(w) if i == 0 else cell.rjust(w)
                    for i, (cell, w) in enumerate(zip(row, widths, strict=True))
                ]
                lines.append("  " + "  ".join(cells).rstrip())
    return "\n".join(lines)


def status(
    as_json: Annotated[
        bool, typer.Option("--json", help="print one JSON object instead of the table")
    ] = False,
) -> None:
    """Show each stage group's state, members, committed offsets, end offsets and lag."""
    settings = load_settings()
    # the client logs each failed connection attempt; the error says it in one line
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    groups = asyncio.run(hub_status(settings))
    if as_json:
        print(
            json.dumps(
                {"bootstrap": settings.bootstrap, "groups": [g.to_json() for g in groups]},
                indent=2,
            )
        )
    else:
        print(render_table(groups))
