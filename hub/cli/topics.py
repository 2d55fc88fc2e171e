"""``mchub topics apply|list``: the declared topics (see hub.topics)."""

from __future__ import annotations

import asyncio

import typer

from hub.settings import load_settings
from hub.topics import apply_topics, declared_topics

app = typer.Typer(help="Declare the hub's Kafka topics.", no_args_is_help=True)


@app.command("apply")
def apply_cmd() -> None:
    """Create missing topics and align configs of existing ones (idempotent)."""
    settings = load_settings()
    for result in asyncio.run(apply_topics(settings)):
        print(f"{result.action:9} {result.topic} ({result.partitions} partitions)")


@app.command("list")
def list_cmd() -> None:
    """Print the declared topics with retention and cleanup policy."""
    settings = load_settings()
    for spec in declared_topics():
        retention = "forever" if spec.retention_ms < 0 else f"{spec.retention_ms // 86_400_000}d"
        print(f"{settings.topic(spec.name)}\t{spec.cleanup_policy}\t{retention}\t{spec.purpose}")
