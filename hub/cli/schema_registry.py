"""``mchub schema-registry up|down|status``: the local schema registry (hub.localregistry),
and ``mchub schemas register``: the hub's schemas into any Confluent-compatible registry."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated

import typer

from hub.localregistry import LocalRegistry, RegistrySpec
from hub.settings import Settings, load_settings

app = typer.Typer(
    help="Run a real local Confluent-compatible schema registry (Apicurio Registry, from "
    "Maven Central).", no_args_is_help=True,
)

DataDirOption = Annotated[
    Path | None,
    typer.Option("--data-dir", help="registry directory (default: $MCHUB_DATA_DIR/registry)"),
]


def local_registry(settings: Settings, data_dir: Path | None = None) -> LocalRegistry:
    """The local registry of ``settings`` (its directory under the data dir)."""
    return LocalRegistry(data_dir or settings.data_dir / "registry", cache_dir=settings.cache_dir)


def _say(message: str) -> None:
    print(f"mchub: {message}", file=sys.stderr)


def start_local(settings: Settings, *, port: int | None = None,
                data_dir: Path | None = None) -> RegistrySpec:
    """Start the local registry (no-op when it runs) and say where it is."""
    spec, started = local_registry(settings, data_dir).up(
        port=port or settings.schema_registry_port, progress=_say)
    _say(f"schema registry (Apicurio Registry {spec.version}) "
         f"{'started' if started else 'already running'} at {spec.url}")
    return spec


@app.command()
def up(
    port: Annotated[int | None, typer.Option(
        help="HTTP port (default: $MCHUB_SCHEMA_REGISTRY_PORT, 8085)")] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Start the registry (no-op when it runs) and print its Confluent-compatible URL, the
    value for MCHUB_SCHEMA_REGISTRY_URL."""
    print(start_local(load_settings(), port=port, data_dir=data_dir).url)


@app.command()
def down(data_dir: DataDirOption = None) -> None:
    """Stop the registry."""
    stopped = local_registry(load_settings(), data_dir).down()
    _say("schema registry stopped" if stopped else "no schema registry was running")


@app.command()
def status(data_dir: DataDirOption = None) -> None:
    """Show the registry's URL; exit 1 when it does not run."""
    spec = local_registry(load_settings(), data_dir).status()
    if spec is None:
        _say("no schema registry running (start one with `mchub schema-registry up`)")
        raise typer.Exit(1)
    print(f"{spec.url}\tpid {spec.pid}\trunning")


def register(
    url: Annotated[str | None, typer.Option(
        help="the registry (default: $MCHUB_SCHEMA_REGISTRY_URL)")] = None,
) -> None:
    """Register every released canonical schema (idempotent; FULL_TRANSITIVE subjects
    ``<topic>-<record>``) and print subject, release and id per schema."""
    from hub.stream.schema_registry import register_schemas

    settings = load_settings(schema_registry_url=url)
    for done in asyncio.run(register_schemas(settings)):
        print(f"{done.subject}\tv{done.version}\tid {done.schema_id}")
