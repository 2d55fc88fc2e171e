"""``mchub demo``: the hub's main job on the embedded default, end to end.

Starts the local broker (unless ``MCHUB_BOOTSTRAP`` names another cluster), applies the
topics, starts local destinations (the reference national register over
``<data_dir>/register.db``, a local Open Badges wallet host and a local EDC-style deposit
endpoint, see :mod:`mchub_reference.local`), starts the workers (ingest, decide, the
register-state projection and one delivery connector per destination), publishes the
sample feeds as the sector systems would, waits until every event has its final outcome
and every destination has caught up, and prints two tables: outcomes per source and
deliveries per destination (from the delivery ledger).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import typer

from connectors.fanout.workers import fanout_workers
from hub.authz import example_registry_path, registry_from_environment
from hub.cli.kafka import provision_local
from hub.errors import ConfigurationError
from hub.localkafka import LocalKafka
from hub.publish import Published, SourceMessage, publish, sample_messages
from hub.receipts import ReceiptBook, read_receipts
from hub.settings import ADMIN_PRINCIPAL, Settings, load_settings
from hub.stream.runner import core_stages, run_stages
from hub.stream.schema_registry import prepare_wire_format
from hub.topics import SOURCE_TOPICS, apply_topics

#: delivery states in the order the deliveries table shows them
DELIVERY_STATES = ("delivered", "skipped", "failed", "parked", "pending")


def _say(message: str) -> None:
    print(f"mchub: {message}", file=sys.stderr, flush=True)


def count_events(feed: str, payload: bytes) -> int:
    """Events in one source message: one for he/vet, one per non-empty CSV data row for al."""
    if feed != "al":
        return 1
    import csv
    import io

    rows = list(csv.reader(io.StringIO(payload.decode("utf-8-sig", "replace")), delimiter=";"))
    return sum(1 for row in rows[1:] if any(cell.strip() for cell in row))


def ensure_broker(settings: Settings) -> Settings:
    """Start the embedded local broker, authenticated, with a principal per source of the
    registry, unless an external bootstrap was configured; the settings to use."""
    if "bootstrap" in settings.model_fields_set:
        _say(f"using the Kafka cluster at {settings.bootstrap} (MCHUB_BOOTSTRAP)")
        return settings
    cluster = LocalKafka(settings.data_dir / "kafka", cache_dir=settings.cache_dir)
    spec, started = cluster.up(port=settings.kafka_port, auth=True, progress=_say)
    _say(f"Kafka {spec.version} {'started' if started else 'already running'} at {spec.bootstrap}")
    provision_local(cluster, spec, settings)
    return settings.model_copy(update={"bootstrap": spec.bootstrap}).with_section(
        "kafka", credentials_file=cluster.credentials_file)


async def publish_as_sources(settings: Settings, messages: list[SourceMessage]) -> list[Published]:
    """Publish each feed's samples as the sector system would: authenticated as the feed's
    default source in the issuer registry, to the feed's shared topic."""
    registry = registry_from_environment()
    published: list[Published] = []
    for feed in SOURCE_TOPICS:
        mine = [m for m in messages if m.feed == feed]
        source = registry.kafka_default_source(feed) if registry is not None else None
        sender = settings.as_principal(source or ADMIN_PRINCIPAL, unless_set=True)
        if mine:
            published += await publish(sender, mine)
    return published


@dataclass
class FanoutReport:
    """What the demo learned about the fan-out: states per destination and where to look."""

    counts: dict[str, Counter[str]] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)
    register_url: str = ""
    register_db: Path | None = None
    example_credential: str | None = None
    behind: dict[str, int] = field(default_factory=dict)
    #: the issuer server of the run (the public base URL its credentials name)
    public_base_url: str | None = None
    #: what a verifier fetches there: (URL, what it is)
    issuer_documents: list[tuple[str, str]] = field(default_factory=list)


async def _run_demo(
    settings: Settings, folder: Path
) -> tuple[list[Published], ReceiptBook, FanoutReport]:
    from hub.stream.checkpoints import anchor_source
    from mchub_reference.local import local_destinations

    results = await apply_topics(settings.as_principal(ADMIN_PRINCIPAL, unless_set=True))
    created = sum(1 for r in results if r.action == "created")
    _say(f"{len(results)} topics declared ({created} created)")
    registered = await prepare_wire_format(settings)
    if registered:
        subjects = sorted({r.subject for r in registered})
        _say(f"{len(registered)} schemas registered in {settings.schema_registry_url} "
             f"({len(subjects)} subjects {subjects[0]}…, FULL_TRANSITIVE); canonical records "
             f"framed {settings.wire_format} (MCHUB_WIRE_FORMAT)")
    messages = list(sample_messages(folder))
    if not messages:
        raise typer.BadParameter(f"no sample files under {folder}", param_hint="--samples")
    report = FanoutReport()
    with local_destinations(settings.data_dir, anchor=anchor_source(settings)) as local:
        report.missing = dict(local.missing)
        report.register_url = local.urls["register"]
        report.register_db = local.register_db
        report.public_base_url = local.public_base_url
        if local.public_base_url:
            _say(
                f"issuer server (public base URL of the credentials): {local.public_base_url}"
            )
        _say(
            "destinations running: "
            + ", ".join(f"{name} {url}" for name, url in local.urls.items())
            + "".join(f"; {name} not started ({why})" for name, why in local.missing.items())
        )
        stop = asyncio.Event()
        async with fanout_workers(
            settings, urls=local.urls, destinations=local.destinations
        ) as fanout:
            stages = [*core_stages(settings), *fanout]
            workers = asyncio.create_task(run_stages(stages, stop))
            try:
                await asyncio.wait_for(asyncio.gather(*(s.ready.wait() for s in stages)), 60)
                _say(f"workers running: {', '.join(s.name for s in stages)}")
                published = await publish_as_sources(settings, messages)
                _say(f"published {len(published)} sample messages; waiting for every outcome")
                started = time.monotonic()
                book = await read_receipts(
                    settings,
                    ReceiptBook(),
                    until_complete=[p.receipt_id for p in published],
                    timeout=120,
                )
                if not book.complete(p.receipt_id for p in published):
                    _say("not every event was decided within 120 s; see `mchub run` logs")
                _say(f"all outcomes in after {time.monotonic() - started:.1f} s")
                report.behind = await _wait_for_deliveries(settings, [s.name for s in fanout])
                _say(f"deliveries settled after {time.monotonic() - started:.1f} s")
            finally:
                stop.set()
                await workers
    await _read_deliveries(settings, report, list(local.urls))
    report.issuer_documents = issuer_documents(settings.data_dir, report.public_base_url)
    return published, book, report


def issuer_documents(data_dir: Path, base: str | None) -> list[tuple[str, str]]:
    """The documents a verifier of the run's credentials fetches from the issuer server:
    (URL, what it is), from the status database the run wrote."""
    if not base:
        return []
    from connectors.status import SqliteStatusStore

    found: list[tuple[str, str]] = []
    db = data_dir / "status" / "status.db"
    if db.exists():
        with SqliteStatusStore(db) as store:
            issuers = {list_id: store.issuer(list_id) or "" for list_id in store.list_ids()}
            try:
                from connectors.status.issuers import IssuerDirectory

                directory = IssuerDirectory(db)
                try:
                    profiles = directory.issuer_ids()
                finally:
                    directory.close()
            except Exception:  # noqa: BLE001 - the directory is optional here
                profiles = []
        for issuer in profiles:
            if issuer.startswith(base):
                found.append((issuer, "OB3 issuer Profile (keys: <that>/jwks, <that>/keys/<kid>)"))
        for list_id, issuer in issuers.items():
            found.append(
                (f"{base}/v1/status/{list_id}", f"status list of {issuer or 'the hub (legacy)'}")
            )
    found.append((f"{base}/v1/pki/ca.crl", "the dev CA's CRL (DER)"))
    found.append((f"{base}/v1/pki/ca.cert", "the dev CA's certificate (DER)"))
    return found


async def _wait_for_deliveries(settings: Settings, names: list[str]) -> dict[str, int]:
    """Wait (up to 30 s) until every fan-out worker committed the canonical log; the lag."""
    from connectors.fanout.lag import log_end_offsets, wait_caught_up

    ends = await log_end_offsets(settings)
    groups = {settings.group(name): name for name in names}
    behind = await wait_caught_up(settings, groups, ends, timeout=30)
    return {groups[g]: n for g, n in behind.items() if n}


async def _read_deliveries(settings: Settings, report: FanoutReport, names: list[str]) -> None:
    """Count the ledger's latest state per destination; events not yet in it are pending."""
    from connectors.delivery.ledger import read_ledger
    from connectors.fanout.lag import count_records
    from hub.topics import CANONICAL_LOG

    records = await read_ledger(settings)
    total = await count_records(settings, settings.topic(CANONICAL_LOG))
    report.counts = {name: Counter() for name in names}
    for record in records:
        report.counts.setdefault(record.destination, Counter())[record.state] += 1
    for counts in report.counts.values():
        counts["pending"] += max(0, total - sum(counts.values()))
    # an example for `mchub deliveries`: a credential delivered twice (issued, then revoked)
    per_credential = Counter(
        r.credential_id for r in records if r.destination == "register" and r.state == "delivered"
    )
    twice = [c for c, n in per_credential.items() if n >= 2 and not c.startswith("learner:")]
    report.example_credential = twice[0] if twice else next(iter(per_credential), None)


def _print_deliveries(settings: Settings, report: FanoutReport) -> None:
    from hub.topics import DELIVERY_RECEIPTS

    print(f"\nDeliveries per destination (ledger {settings.topic(DELIVERY_RECEIPTS)})\n")
    print(f"  {'destination':<18} " + " ".join(f"{s:>9}" for s in DELIVERY_STATES))
    for name, counts in report.counts.items():
        print(f"  {name:<18} " + " ".join(f"{counts[s]:>9}" for s in DELIVERY_STATES))
    for name, why in report.missing.items():
        print(f"  {name:<18} not started: {why}")
    if report.behind:
        print(f"  still catching up after 30 s: {report.behind} (see `mchub deliveries`)")


def _print_issuer_documents(report: FanoutReport) -> None:
    if not report.public_base_url:
        return
    print(
        f"\nWhere a verifier finds the issuer documents (issuer server {report.public_base_url})\n"
    )
    print(f"  {report.public_base_url}/v1/issuers/<scheme>/<id>   OB3 issuer Profiles and keys")
    print(f"  {report.public_base_url}/v1/status/<list id>        status lists (VC-JWT)")
    print(
        f"  {report.public_base_url}/v1/audit/anchor           newest signed checkpoint "
        "(keep it: `mchub audit verify --anchor URL|FILE`)"
    )
    for url, what in report.issuer_documents:
        print(f"  {url}\n      {what}")
    print(
        "  served while the demo runs; afterwards serve them with\n"
        f"  MCHUB_PUBLIC_BASE_URL={report.public_base_url} python -m connectors.status "
        f"--port {report.public_base_url.rsplit(':', 1)[-1]}"
    )


def ensure_schema_registry(settings: Settings) -> Settings:
    """Start the embedded schema registry beside the broker, unless an external one was
    configured (MCHUB_SCHEMA_REGISTRY_URL); the settings to use."""
    from hub.cli.schema_registry import start_local

    if settings.schema_registry_url:
        _say(f"using the schema registry at {settings.schema_registry_url} "
             "(MCHUB_SCHEMA_REGISTRY_URL)")
        return settings
    return settings.model_copy(update={"schema_registry_url": start_local(settings).url})


def demo(
    samples: Annotated[
        Path | None, typer.Option(help="samples folder (default: shared/feeds/samples)")
    ] = None,
) -> None:
    """Run the main job on the embedded default: broker, workers, sample feeds, summary."""
    # the Kafka client logs transient start-up states (coordinator not yet elected) as
    # errors; a person reading the summary should see only what matters
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    if "MCHUB_ISSUERS" not in os.environ:  # the pilot's issuer registry: who may issue what
        registry = example_registry_path()
        os.environ["MCHUB_ISSUERS"] = str(registry)
        _say(f"issuer registry: {registry} (set MCHUB_ISSUERS to use another)")
    settings = load_settings()
    folder = samples or settings.samples_dir
    if not any(folder.glob("*/*.*")):  # before a broker is started for nothing
        raise ConfigurationError(
            f"no sample feeds in {folder}: set MCHUB_SHARED_DIR to the folder that holds "
            "feeds/samples (the project's shared/ folder), or pass --samples DIR"
        )
    settings = ensure_broker(settings)
    settings = ensure_schema_registry(settings)
    published, book, report = asyncio.run(_run_demo(settings, folder))

    print(f"\nSample feeds from {folder}\n")
    print(
        f"  {'source topic':<18} {'messages':>8} {'events':>6} | {'accepted':>8} "
        f"{'rejected':>8} {'held':>4} {'duplicate':>9} {'conflict':>8}"
    )
    summary = book.summary(p.receipt_id for p in published)
    totals = [0] * 7
    for feed, topic in SOURCE_TOPICS.items():
        mine = [p for p in published if p.message.feed == feed]
        counts = summary[feed]
        row = [
            len(mine),
            sum(count_events(feed, p.message.value) for p in mine),
            counts["accept"],
            counts["reject"],
            counts["hold"],
            counts["duplicate-ignored"],
            counts["conflict"],
        ]
        totals = [a + b for a, b in zip(totals, row, strict=True)]
        print(
            f"  {settings.topic(topic):<18} {row[0]:>8} {row[1]:>6} | {row[2]:>8} "
            f"{row[3]:>8} {row[4]:>4} {row[5]:>9} {row[6]:>8}"
        )
    print(
        f"  {'total':<18} {totals[0]:>8} {totals[1]:>6} | {totals[2]:>8} "
        f"{totals[3]:>8} {totals[4]:>4} {totals[5]:>9} {totals[6]:>8}"
    )
    _print_deliveries(settings, report)
    _print_issuer_documents(report)
    example = report.example_credential or "ID"
    print(f"""
Where to look next:
  canonical log        canon.events.log (Avro {settings.wire_format}; hub/contract/schemas/)
  schema registry      {settings.schema_registry_url or "none"}
                       (subjects canon.events.log-eu.mchub.canonical.*; docs/schema-registry.md)
  receipts per source  canon.receipts.he / .vet / .al (JSON, keyed by receipt id)
  rejections           canon.events.rejected (rule, field path, message)
  dead letters         dlq.src.undecodable (original bytes + origin headers)
  deliveries           mchub deliveries --credential {example}
  register             {report.register_db} (served at {report.register_url} during the demo)
                       mchub register serve, then GET http://127.0.0.1:8081/credentials/ID
  register state       register.credentials.state (compacted, one record per credential)
  register tables      register.credentials.table + 6 child tables (typed, for a Kafka
                       Connect JDBC sink; docs/schema-registry.md)
  learner data         sealed per learner (docs/privacy.md): mchub learners export EDUCATION_ID
                       mchub learners erase EDUCATION_ID --reason TEXT, then mchub audit verify
  run it again         every event is then recognised as a duplicate
  workers              mchub run          stop: mchub kafka down, mchub schema-registry down
""")
