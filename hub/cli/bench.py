"""``mchub bench <name>``: benchmarks, each printing one JSON object (thin dispatcher).

Implementations live in :mod:`hub.bench`; add one command per benchmark here.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from hub.settings import Settings

app = typer.Typer(
    help="Benchmarks; each prints one JSON object.", no_args_is_help=True, add_completion=False
)


@app.callback()
def bench() -> None:
    """Benchmarks; each prints one JSON object with its baseline and machine info."""


def on_broker(run: Callable[[Settings], Coroutine[Any, Any, dict[str, Any]]]) -> None:
    """Run a broker benchmark on the local broker (started when down); print its JSON.
    A benchmark plays every part (sources, stages, operator), so on the authenticated
    local broker it runs as the admin principal."""
    from hub.cli.demo import ensure_broker
    from hub.settings import ADMIN_PRINCIPAL, load_settings

    settings = ensure_broker(load_settings()).as_principal(ADMIN_PRINCIPAL, unless_set=True)
    typer.echo(json.dumps(asyncio.run(run(settings))))


@app.command("codec")
def codec(
    events: Annotated[int, typer.Option(min=1, help="events per round")] = 3000,
    rounds: Annotated[int, typer.Option(min=1, help="rounds (best counts)")] = 7,
) -> None:
    """Canonical codec vs raw fastavro: encode+decode events/s and their ratio."""
    from hub.bench.codec import run

    typer.echo(json.dumps(run(events=events, rounds=rounds)))


@app.command("cost")
def cost_bench(
    events: Annotated[int, typer.Option(min=200, help="generated he issuances")] = 2000,
) -> None:
    """Per-event cost of every step (normalise ... seal) in µs, no broker needed."""
    from hub.bench.cost import run
    from hub.settings import load_settings

    settings = load_settings()
    typer.echo(json.dumps(run(settings, events=events, samples_dir=settings.samples_dir)))


@app.command("normalise")
def normalise_bench(
    events: Annotated[int, typer.Option(min=100, help="pre-loaded he events")] = 20000,
    latency_seconds: Annotated[float, typer.Option(help="seconds paced at 1,000 ev/s")] = 10.0,
) -> None:
    """Core stream vs a plain aiokafka relay vs the pure normaliser, on the local broker."""
    from hub.bench.pipeline import run

    on_broker(lambda s: run(s, events=events, samples_dir=s.samples_dir,
                            latency_seconds=latency_seconds))


@app.command("replay")
def replay_bench(
    events: Annotated[int, typer.Option(min=1000, help="canonical events to generate")] = 1_000_000,
    keep: Annotated[bool, typer.Option(help="keep the generated bench topic")] = False,
) -> None:
    """Rebuild the credential-state projection from a generated log vs a plain aiokafka read."""
    from hub.bench.replay import run

    on_broker(lambda s: run(s, events=events, keep=keep))


@app.command("gateway")
def gateway_bench(
    single: Annotated[int, typer.Option(min=10, help="single-event posts")] = 3000,
    batches: Annotated[int, typer.Option(min=1, help="1,000-row CSV posts")] = 40,
    concurrency: Annotated[int, typer.Option(min=1, help="requests in flight (single)")] = 32,
) -> None:
    """HTTP gateway: accepted requests/s and p99 latency (single events, 1,000-row CSV)."""
    from hub.bench.gateway import run

    on_broker(lambda s: run(s, samples_dir=s.samples_dir, single=single, batches=batches,
                            concurrency=concurrency))


@app.command("fanout")
def fanout_bench(
    events: Annotated[int, typer.Option(min=100, help="issuances on the canonical log")] = 3000,
    latency_seconds: Annotated[
        float, typer.Option(help="seconds measured at 500 ev/s, after a 3 s warm-up")
    ] = 10.0,
) -> None:
    """Fan-out to register + wallet + EDC vs a plain consume+PUT loop; latency at 500 ev/s."""
    from hub.bench.fanout import run

    on_broker(lambda s: run(s, events=events, samples_dir=s.samples_dir,
                            latency_seconds=latency_seconds))


@app.command("restart")
def restart_bench(
    credentials: Annotated[
        int, typer.Option(min=100, help="credentials in the decide state")
    ] = 1_000_000,
    tail: Annotated[
        int, typer.Option(min=1, help="changelog records written after the local checkpoint")
    ] = 10_000,
    keep: Annotated[bool, typer.Option(help="keep the bench topics and local files")] = False,
) -> None:
    """Restore time and RSS of decide: whole changelog into memory vs a SQLite file's tail."""
    from hub.bench.restart import run

    on_broker(lambda s: run(s, credentials=credentials, tail=tail, keep=keep))
