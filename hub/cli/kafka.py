"""``mchub kafka up|down|status``: the local Apache Kafka cluster (see hub.localkafka)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from hub.localkafka import LocalKafka, pid_alive
from hub.settings import load_settings

app = typer.Typer(
    help="Run a real local Apache Kafka (KRaft) cluster from Maven Central.", no_args_is_help=True
)

DataDirOption = Annotated[
    Path | None,
    typer.Option("--data-dir", help="cluster directory (default: $MCHUB_DATA_DIR/kafka)"),
]


def _cluster(data_dir: Path | None) -> LocalKafka:
    settings = load_settings()
    return LocalKafka(data_dir or settings.data_dir / "kafka", cache_dir=settings.cache_dir)


def _say(message: str) -> None:
    print(f"mchub: {message}", file=sys.stderr)


@app.command()
def up(
    brokers: Annotated[int, typer.Option(help="number of brokers (1 or 3)", min=1, max=3)] = 1,
    port: Annotated[int | None, typer.Option(help="client port of the first broker")] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Start the cluster (no-op when it already runs) and print its bootstrap servers."""
    cluster = _cluster(data_dir)
    spec, started = cluster.up(
        brokers=brokers, port=port or load_settings().kafka_port, progress=_say
    )
    state = "started" if started else "already running"
    _say(f"Kafka {spec.version} {state}: {len(spec.nodes)} broker(s) at {spec.bootstrap}")
    print(spec.bootstrap)


@app.command()
def down(data_dir: DataDirOption = None) -> None:
    """Stop every broker of the cluster and free its ports."""
    stopped = _cluster(data_dir).down()
    _say(f"stopped {stopped} broker(s)" if stopped else "no broker was running")


@app.command()
def status(data_dir: DataDirOption = None) -> None:
    """Show the nodes of the cluster; exit 1 when it is not fully running."""
    cluster = _cluster(data_dir)
    spec = cluster.load()
    if spec is None:
        _say(f"no cluster in {cluster.data_dir} (start one with `mchub kafka up`)")
        raise typer.Exit(1)
    healthy = True
    for node in spec.nodes:
        alive = pid_alive(node.pid)
        healthy &= alive
        pid = node.pid if node.pid else "-"
        print(
            f"node {node.node_id}\t127.0.0.1:{node.port}\tpid {pid}\t"
            f"{'running' if alive else 'stopped'}"
        )
    raise typer.Exit(0 if healthy else 1)
