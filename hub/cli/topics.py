"""``mchub topics apply|list|describe`` and ``mchub tail``: the hub's Kafka topics
(see hub.topics and hub.audit.inspect)."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Annotated

import typer

from hub.settings import ADMIN_PRINCIPAL, load_settings
from hub.topics import apply_topics, declared_topics

app = typer.Typer(help="Declare the hub's Kafka topics.", no_args_is_help=True)


@app.command("apply")
def apply_cmd() -> None:
    """Create missing topics and align configs of existing ones (idempotent), as the
    admin principal unless MCHUB_KAFKA_USER names another."""
    settings = load_settings().as_principal(ADMIN_PRINCIPAL, unless_set=True)
    for result in asyncio.run(apply_topics(settings)):
        print(f"{result.action:9} {result.topic} ({result.partitions} partitions)")


@app.command("list")
def list_cmd() -> None:
    """Print the declared topics with retention and cleanup policy."""
    settings = load_settings()
    for spec in declared_topics():
        retention = "forever" if spec.retention_ms < 0 else f"{spec.retention_ms // 86_400_000}d"
        print(f"{settings.topic(spec.name)}\t{spec.cleanup_policy}\t{retention}\t{spec.purpose}")


@app.command("describe")
def describe_cmd(
    topics: Annotated[
        list[str] | None, typer.Argument(metavar="[TOPIC]...", help="logical names (default: all)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the JSON document")] = False,
) -> None:
    """Partitions (leader, replicas, in-sync), offsets, configs and value format per topic."""
    from hub.audit.inspect import describe_topics

    settings = load_settings()
    views = asyncio.run(describe_topics(settings, [settings.topic(t) for t in topics or []]))
    if as_json:
        print(json.dumps(views, indent=2))
        return
    for view in views:
        if not view["exists"]:
            print(f"{view['topic']}: missing (run `mchub topics apply`)")
            continue
        configs = view["configs"]
        retention = configs.get("retention.ms", "?")
        print(
            f"{view['topic']}: {len(view['partitions'])} partition(s), {view['records']} "
            f"record(s) retained, format {view['format']}, cleanup "
            f"{configs.get('cleanup.policy', '?')}, retention.ms {retention}"
        )
        for p in view["partitions"]:
            print(
                f"  partition {p['partition']}: leader {p['leader']} replicas {p['replicas']} "
                f"isr {p['isr']} offsets {p['earliest']}..{p['end']}"
            )


def tail(
    topic: Annotated[
        str, typer.Argument(metavar="TOPIC", help="logical topic name, e.g. canon.events.log")
    ],
    from_offset: Annotated[
        int | None, typer.Option("--from-offset", help="start at this offset in every partition")
    ] = None,
    from_time: Annotated[
        str | None,
        typer.Option("--from-time", help="start at the first record at or after this time"),
    ] = None,
    last: Annotated[
        int | None, typer.Option("--last", help="the last N records of each partition")
    ] = None,
    partition: Annotated[
        list[int] | None, typer.Option("--partition", "-p", help="only this partition (repeatable)")
    ] = None,
    limit: Annotated[int | None, typer.Option("--max", help="stop after N records")] = None,
) -> None:
    """Print a topic's records to its end, decoded, one JSON object per line."""
    from hub.audit.inspect import tail as tail_records
    from hub.cli.audit import parse_time

    settings = load_settings()
    since = parse_time(from_time, "--from-time")

    async def run() -> int:
        count = 0
        async for doc in tail_records(
            settings,
            settings.topic(topic),
            from_offset=from_offset,
            since=since,
            last=last,
            partitions=partition,
            limit=limit,
        ):
            sys.stdout.write(json.dumps(doc, ensure_ascii=False) + "\n")
            count += 1
        return count

    count = asyncio.run(run())
    print(f"mchub: {count} record(s) of {settings.topic(topic)}", file=sys.stderr)
