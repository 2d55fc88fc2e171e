"""``mchub gateway serve|openapi|keys``: the HTTP ingestion gateway.

``serve`` runs the gateway (Kafka from ``MCHUB_BOOTSTRAP``, registry from ``--registry``
or ``MCHUB_ISSUERS``, other options from ``MCHUB_GATEWAY_*``); ``openapi`` writes or
checks the committed OpenAPI document; ``keys add|list|revoke`` manage the hashed API
keys of a source in the registry file (the gateway reloads the file when it changes).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from hub.cli.documents import add_openapi_command
from hub.errors import ConfigurationError
from hub.settings import GATEWAY_PRINCIPAL, REPO_ROOT, load_settings

if TYPE_CHECKING:
    from hub.authz import ApiKeyRecord, IssuerRegistry, SourceEntry

app = typer.Typer(help="The HTTP ingestion gateway (feeds over HTTP, API keys, receipts).",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  rich_markup_mode=None)
keys_app = typer.Typer(help="API keys of a source in the issuer registry.",
                       no_args_is_help=True, add_completion=False,
                       pretty_exceptions_enable=False, rich_markup_mode=None)
app.add_typer(keys_app, name="keys")

#: where the committed OpenAPI document lives
OPENAPI_PATH = REPO_ROOT / "docs" / "openapi" / "gateway.json"

RegistryOption = Annotated[str | None, typer.Option(
    "--registry", help="issuer registry file [MCHUB_ISSUERS]")]


def registry_path(option: str | None) -> Path:
    """The registry file from the option or ``MCHUB_ISSUERS``; a clear error without one."""
    from hub.authz import REGISTRY_ENV

    value = option or os.environ.get(REGISTRY_ENV)
    if not value:
        raise ConfigurationError(
            f"no issuer registry: pass --registry FILE or set {REGISTRY_ENV} "
            "(example: hub/issuers.example.json)")
    return Path(value)


@app.command("serve")
def serve(
    registry: RegistryOption = None,
    host: Annotated[str | None, typer.Option(help="address to listen on [127.0.0.1]")] = None,
    port: Annotated[int | None, typer.Option(help="port to listen on [8082]")] = None,
) -> None:
    """Run the gateway in the foreground until interrupted."""
    from hub.authz import load_registry
    from hub.gateway.server import serve as run

    path = registry_path(registry)
    loaded = load_registry(path)
    settings = load_settings().as_principal(GATEWAY_PRINCIPAL, unless_set=True)
    settings = settings.with_section(
        "gateway", **{k: v for k, v in (("host", host), ("port", port)) if v is not None})
    config = settings.gateway
    print(f"mchub gateway: http{'s' if config.tls_certfile else ''}://{config.host}:{config.port}"
          f" -> Kafka {settings.bootstrap}; issuer registry {path} version {loaded.version} "
          f"({len(loaded.document.sources)} sources)", file=sys.stderr)
    run(settings, path)


def _render_openapi() -> str:
    from hub.gateway.app import render_openapi

    return render_openapi()


add_openapi_command(app, "gateway", OPENAPI_PATH, _render_openapi)


@keys_app.command("add")
def keys_add(
    source: Annotated[str, typer.Option(help="source id in the registry")],
    key_id: Annotated[str | None, typer.Option(
        "--id", help="key id [<source>-<UTC date and time>]")] = None,
    expires: Annotated[str | None, typer.Option(
        help="expiry, ISO 8601 (e.g. 2026-01-31T00:00:00Z) [never]")] = None,
    label: Annotated[str | None, typer.Option(help="free text, e.g. who holds the key")] = None,
    registry: RegistryOption = None,
) -> None:
    """Add a new API key to a source; prints the key once (only its hash is stored)."""
    from hub.authz import ApiKeyRecord
    from hub.gateway.auth import generate_key

    path, current = _registry(registry)
    entry = current.source(source)
    if entry is None:
        raise ConfigurationError(f"no source {source!r} in {path}")
    now = datetime.now(UTC)
    kid = key_id or f"{source}-{now.strftime('%Y%m%d%H%M%S')}".lower()
    if current.api_key(kid) is not None:
        raise ConfigurationError(f"key id {kid!r} exists already")
    presented, hashed = generate_key(kid)
    record = ApiKeyRecord.model_validate({
        "id": kid, "hash": hashed, "createdAt": now.isoformat(timespec="seconds"),
        "expiresAt": expires, "label": label})
    _write_keys(path, current, lambda s: (*s.api_keys, record) if s.id == source else s.api_keys)
    print(presented)
    print(f"mchub gateway: key {kid} added to {source} in {path}; the key above is shown "
          "only once", file=sys.stderr)


@keys_app.command("list")
def keys_list(
    registry: RegistryOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON output")] = False,
) -> None:
    """List the API keys (ids, dates, labels; never hashes) per source."""
    from hub.authz import load_registry

    loaded = load_registry(registry_path(registry))
    rows = [{"source": s.id, "key": k.id, "createdAt": k.created_at, "expiresAt": k.expires_at,
             "label": k.label} for s in loaded.document.sources for k in s.api_keys]
    if as_json:
        print(json.dumps(rows, ensure_ascii=False))
        return
    print(f"{'source':<20} {'key':<36} {'created':<26} {'expires':<26} label")
    for row in rows:
        print(f"{row['source']:<20} {row['key']:<36} {row['createdAt'] or '-':<26} "
              f"{row['expiresAt'] or '-':<26} {row['label'] or ''}")


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="the key id to remove")],
    registry: RegistryOption = None,
) -> None:
    """Remove an API key; the gateway refuses it once it has reloaded the file (≤ 1 s)."""
    path, current = _registry(registry)
    found = current.api_key(key_id)
    if found is None:
        raise ConfigurationError(f"no key {key_id!r} in {path}")
    _write_keys(path, current, lambda s: tuple(k for k in s.api_keys if k.id != key_id))
    print(f"mchub gateway: key {key_id} of {found[0].id} revoked in {path}", file=sys.stderr)


def _registry(option: str | None) -> tuple[Path, IssuerRegistry]:
    """The issuer registry file the option (or MCHUB_ISSUERS) names, loaded."""
    from hub.authz import load_registry

    path = registry_path(option)
    return path, load_registry(path)


def _write_keys(path: Path, current: IssuerRegistry,
                keys: Callable[[SourceEntry], tuple[ApiKeyRecord, ...]]) -> None:
    """Write the registry back with each source's API keys replaced by ``keys(source)``."""
    from hub.authz import dump_registry

    sources = tuple(s.model_copy(update={"api_keys": keys(s)}) for s in current.document.sources)
    _write(path, dump_registry(current.document.model_copy(update={"sources": sources})))


def _write(path: Path, text: str) -> None:
    """Replace the file atomically (the gateway never reads a half-written registry)."""
    from hub.authz import parse_registry

    parse_registry(text, str(path))  # never write a registry that would not load
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


if __name__ == "__main__":  # pragma: no cover
    app()
