"""``mchub kafka up|down|status|acls``: the local Apache Kafka cluster (hub.localkafka) and
the ACLs of any cluster (hub.principals)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from hub.authz import registry_from_environment
from hub.localkafka import ClusterSpec, LocalKafka, pid_alive
from hub.settings import ADMIN_PRINCIPAL, Settings, load_settings

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
    auth: Annotated[bool, typer.Option(
        "--auth/--no-auth", help="SASL/SCRAM and ACLs: a principal per source and per hub "
        "role (docs/security.md); --no-auth for a throw-away development broker")] = True,
) -> None:
    """Start the cluster (no-op when it already runs) and print its bootstrap servers."""
    cluster = _cluster(data_dir)
    spec, started = cluster.up(
        brokers=brokers, port=port or load_settings().kafka_port, auth=auth, progress=_say
    )
    state = "started" if started else "already running"
    _say(f"Kafka {spec.version} {state}: {len(spec.nodes)} broker(s) at {spec.bootstrap}")
    if spec.auth:
        provision_local(cluster, spec)
    print(spec.bootstrap)


def local_admin(cluster: LocalKafka, spec: ClusterSpec, settings: Settings | None = None
                ) -> Settings:
    """Settings of the local cluster's admin principal."""
    base = (settings or load_settings()).model_copy(update={"bootstrap": spec.bootstrap})
    return base.with_section("kafka", credentials_file=cluster.credentials_file,
                             user=ADMIN_PRINCIPAL, password=None)


def provision_local(cluster: LocalKafka, spec: ClusterSpec,
                    settings: Settings | None = None) -> list[str]:
    """The principals, ACLs and own topics of the issuer registry's sources
    (``MCHUB_ISSUERS``) on the local cluster; one progress line."""
    from hub.localkafka.security import provision

    registry = registry_from_environment()
    sources = provision(local_admin(cluster, spec, settings), registry)
    _say(f"authenticated (SASL/SCRAM-SHA-512, ACLs): principals {', '.join(sources) or 'none'} "
         "for the sources" + ("" if registry else " (no issuer registry: set MCHUB_ISSUERS)")
         + f"; passwords in {cluster.credentials_file}")
    return sources


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


@app.command()
def acls(
    apply: Annotated[bool, typer.Option(
        "--apply", help="create them on the cluster (as MCHUB_KAFKA_USER, default "
        "mchub-admin)")] = False,
    source: Annotated[list[str] | None, typer.Option(
        help="only the hub's and this source's entries (repeatable)")] = None,
) -> None:
    """Print the ACLs the hub's cluster needs (from MCHUB_ISSUERS), one per line;
    ``--apply`` adds them (existing entries are kept)."""
    from hub.localkafka.security import run_security_tool
    from hub.principals import acl_plan

    settings = load_settings()
    registry = registry_from_environment()
    plan = acl_plan(settings, registry, source)
    for acl in plan:
        print(f"{acl.principal}\t{acl.operation}\t{acl.resource}\t{acl.pattern}\t{acl.name}")
    if apply:
        admin = settings.as_principal(ADMIN_PRINCIPAL, unless_set=True)
        run_security_tool(admin, [acl.line() for acl in plan] + ["apply"])
        _say(f"{len(plan)} ACL entries applied to {settings.bootstrap}")
