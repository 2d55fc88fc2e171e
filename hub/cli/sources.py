"""``mchub sources add|list``: a sector system's registry entry, Kafka principal, ACLs and
own topics, created together (docs/security.md)."""

from __future__ import annotations

import secrets
import sys
from typing import Annotated

import typer

from hub.cli.gateway import RegistryOption, registry_path
from hub.settings import ADMIN_PRINCIPAL, load_settings, local_kafka_passwords

app = typer.Typer(help="Sector systems: registry entry, Kafka principal, ACLs and topics.",
                  no_args_is_help=True)

def _say(message: str) -> None:
    print(f"mchub: {message}", file=sys.stderr)


@app.command("add")
def add(
    source_id: Annotated[str, typer.Argument(help="source id: lowercase letters, digits, '-'")],
    feed: Annotated[list[str], typer.Option(help="sector it sends (he, vet, al; repeatable)")],
    awarding_body: Annotated[list[str], typer.Option(
        help="awarding body it may act for (repeatable; '*' for every one)")],
    name: Annotated[str | None, typer.Option(help="human-readable name [the id]")] = None,
    registry: RegistryOption = None,
) -> None:
    """Add (or extend) a source: its entitlements in the registry, a Kafka principal named
    after it with a new password, ACLs to write only its own topics, and those topics.

    On the local broker the password goes into its credentials file; on any other cluster
    it is printed once (as the admin principal, MCHUB_KAFKA_USER, creates it).
    """
    from hub.authz import Entitlement, SourceEntry, dump_registry, load_registry, parse_registry
    from hub.localkafka.security import provision
    from hub.principals import check_source_id
    from hub.topics import source_topic

    feeds = sorted(set(feed))
    unknown = [f for f in feeds if f not in ("he", "vet", "al")]
    if unknown:
        raise typer.BadParameter(f"unknown feed {unknown[0]!r} (he, vet or al)",
                                 param_hint="--feed")
    try:
        check_source_id(source_id)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="SOURCE_ID") from exc
    path = registry_path(registry)
    current = load_registry(path)
    document = current.document
    entry = current.source(source_id)
    added = tuple(Entitlement.model_validate({"sector": f, "awardingBodies": awarding_body})
                  for f in feeds)
    if entry is None:
        entry = SourceEntry.model_validate({"id": source_id, "name": name or source_id})
        sources = (*document.sources, entry.model_copy(update={"entitlements": added}))
    else:
        sources = tuple(s.model_copy(update={"entitlements": (*s.entitlements, *added)})
                        if s.id == source_id else s for s in document.sources)
    updated = document.model_copy(update={"sources": sources})
    text = dump_registry(updated)
    new_registry = parse_registry(text, str(path))  # checked before anything is written
    settings = load_settings()
    admin = settings.as_principal(ADMIN_PRINCIPAL, unless_set=True)
    local = local_kafka_passwords(settings.credentials_file(), settings.bootstrap) is not None
    password = secrets.token_urlsafe(24)
    # the local broker's file keeps the password; any other cluster's is printed below
    provision(admin, new_registry, [source_id],
              passwords=None if local else {source_id: password})
    path.write_text(text, encoding="utf-8")
    topics = ", ".join(settings.topic(source_topic(f, source_id)) for f in feeds)
    _say(f"source {source_id}: entitlements in {path}, Kafka principal User:{source_id} "
         f"(SCRAM-SHA-512), may write {topics}")
    if local:
        _say(f"its password is in {settings.credentials_file()}")
    else:
        print(password)
        _say("the password above is shown only once; give it to the sector system")


@app.command("list")
def list_sources(registry: RegistryOption = None) -> None:
    """Each source of the registry with its sectors and its own topics."""
    from hub.authz import load_registry
    from hub.principals import source_feeds
    from hub.topics import source_topic

    settings = load_settings()
    loaded = load_registry(registry_path(registry))
    for entry in loaded.document.sources:
        feeds = source_feeds(loaded, entry.id)
        topics = ", ".join(settings.topic(source_topic(f, entry.id)) for f in feeds) or "-"
        print(f"{entry.id}\t{','.join(feeds) or '-'}\t{topics}")
