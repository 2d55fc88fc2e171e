"""``mchub audit credential|report|verify|anchor``, ``mchub replay`` and ``mchub redrive``.

Every command answers from Kafka alone (read_committed); the ``--json`` documents are
described in ``docs/audit.md``. Exit codes: 0 success (``verify``: every chain intact),
1 failure or findings, 2 usage error.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from hub.errors import ConfigurationError
from hub.settings import Settings, load_settings

if TYPE_CHECKING:
    from hub.audit.replay import ReplayResult

app = typer.Typer(
    help="Audit the canonical log: credential history, period reports, tamper evidence.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def audit() -> None:
    """Audit the canonical log: credential history, period reports, tamper evidence."""


def parse_time(text: str | None, option: str) -> datetime | None:
    """An ISO 8601 time or date (UTC when no offset is given)."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigurationError(f"{option}: not an ISO 8601 time: {text!r}") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _print_json(doc: Any) -> None:
    print(json.dumps(doc, indent=2, ensure_ascii=False, default=str))


@app.command("credential")
def credential(
    credential_id: Annotated[str, typer.Argument(metavar="ID", help="credential id or key")],
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="state and deliveries at this moment")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the JSON document")] = False,
) -> None:
    """Every event of a credential with provenance, its holds/rejections/conflicts and
    deliveries per destination."""
    from hub.audit.history import credential_history, format_history

    settings = load_settings()
    doc = asyncio.run(
        credential_history(settings, credential_id, as_of=parse_time(as_of, "--as-of"))
    )
    if as_json:
        _print_json(doc)
    else:
        print(format_history(doc))
    if not doc["events"] and not doc["verdicts"]:
        raise typer.Exit(1)


@app.command("report")
def report(
    start: Annotated[str, typer.Option("--from", help="start of the period (inclusive)")],
    end: Annotated[str, typer.Option("--to", help="end of the period (exclusive)")],
    source: Annotated[
        str | None, typer.Option("--source", help="feed or source system (he, FIR…)")
    ] = None,
    awarding_body: Annotated[
        str | None, typer.Option("--awarding-body", help="awarding body id")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="directory for report.json and report.html")
    ] = None,
) -> None:
    """Counts per source and awarding body, revocations, deliveries, anomalies; JSON + HTML."""
    from hub.audit.report import period_report, write_report

    settings = load_settings()
    doc = asyncio.run(
        period_report(
            settings,
            parse_time(start, "--from") or datetime.now(UTC),
            parse_time(end, "--to") or datetime.now(UTC),
            source=source,
            awarding_body=awarding_body,
        )
    )
    if out is None:
        _print_json(doc)
        return
    json_path, html_path = write_report(doc, out)
    print(f"mchub: wrote {json_path} and {html_path}")


@app.command("verify")
def verify(
    log_topic: Annotated[
        str | None, typer.Option("--log-topic", help="full name of the log (copy) to verify")
    ] = None,
    checkpoint_topic: Annotated[
        str | None, typer.Option("--checkpoint-topic", help="full name of the checkpoint topic")
    ] = None,
    no_checkpoints: Annotated[
        bool, typer.Option("--no-checkpoints", help="verify the chains only")
    ] = False,
    trust: Annotated[
        Path | None, typer.Option("--trust", help="PEM trust anchor(s) of checkpoint signatures")
    ] = None,
    anchor: Annotated[
        str | None,
        typer.Option(
            "--anchor",
            metavar="FILE|URL",
            help="a checkpoint kept outside Kafka (`mchub audit anchor`, an audit report, "
            "GET /v1/audit/anchor): the log must still reach it",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the JSON document")] = False,
) -> None:
    """Recompute the hash chains and checkpoint signatures; report the first broken link."""
    from hub.audit.progress import ProgressBar
    from hub.audit.verify import verify_topics
    from hub.crypto.keys import load_certificates
    from hub.stream.checkpoints import trust_anchors
    from hub.topics import AUDIT_CHECKPOINTS, CANONICAL_LOG

    settings = load_settings()
    log = log_topic or settings.topic(CANONICAL_LOG)
    cps = None if no_checkpoints else (checkpoint_topic or settings.topic(AUDIT_CHECKPOINTS))
    anchors: list[Any] = []
    if cps is not None or anchor is not None:
        anchors = list(load_certificates(trust)) if trust else trust_anchors(settings)
    kept = None if anchor is None else read_anchor(anchor)
    result = asyncio.run(
        verify_topics(
            settings, log, cps, anchors, progress=ProgressBar(f"verify {log}"), anchor=kept
        )
    )
    if as_json:
        _print_json(result.to_json())
    else:
        records = sum(p.records for p in result.partitions)
        print(
            f"{log}: {records} records in {len(result.partitions)} partitions; "
            f"checkpoints {result.checkpoints_valid}/{result.checkpoints} valid"
        )
        for part in result.partitions:
            state = "intact" if part.first_break is None else "BROKEN"
            print(
                f"  partition {part.partition}: {part.seq} chained, {part.unchained} unchained, "
                f"{part.checkpoints_matched} checkpoint heads matched — {state}"
            )
        for finding in result.findings:
            print(f"  {finding.line()}")
        print("OK: every chain and checkpoint verified" if result.ok else "FAILED")
    if not result.ok:
        raise typer.Exit(1)


def read_anchor(source: str) -> bytes:
    """The anchor's JWS from a file or an ``http(s)://`` URL (a JWS or an anchor/report
    JSON document)."""
    import httpx

    from hub.stream.checkpoints import anchor_value

    if source.startswith(("http://", "https://")):
        try:
            response = httpx.get(source, timeout=30, follow_redirects=True)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise ConfigurationError(f"--anchor {source}: {exc}") from exc
        return anchor_value(response.content)
    try:
        return anchor_value(Path(source).read_bytes())
    except OSError as exc:
        raise ConfigurationError(f"--anchor {source}: {exc.strerror}") from exc


@app.command("anchor")
def anchor(
    out: Annotated[
        Path | None, typer.Option("--out", help="write the anchor document (JSON) to this file")
    ] = None,
) -> None:
    """The newest signed checkpoint, to keep outside Kafka: `mchub audit verify --anchor
    FILE` later shows whether the log still reaches it."""
    from hub.stream.checkpoints import anchor_document, latest_checkpoint, trust_anchors

    settings = load_settings()
    found = asyncio.run(latest_checkpoint(settings, trust_anchors(settings)))
    if found is None:
        raise ConfigurationError("no signed checkpoint on the log yet: nothing to anchor")
    doc = anchor_document(*found)
    if out is None:
        _print_json(doc)
        return
    out.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    print(f"mchub: checkpoint #{doc['checkpoint']} of {doc['at']} written to {out}")


def replay(
    projection: Annotated[
        str,
        typer.Option("--projection", help="credential-state | learner-index | register-state"),
    ],
    since: Annotated[
        str | None, typer.Option("--from", help="replay records logged at/after this time")
    ] = None,
    to: Annotated[
        str | None,
        typer.Option(
            "--to",
            help="target: a directory, or a topic for register-state; an existing target resumes",
        ),
    ] = None,
    switch_to: Annotated[
        bool, typer.Option("--switch", help="make the completed --to target the live projection")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print a JSON summary")] = False,
) -> None:
    """Rebuild a projection from the canonical log into a fresh target (resumable)."""
    from hub.audit.replay import PROJECTIONS, switch

    if projection not in PROJECTIONS:
        raise ConfigurationError(f"unknown projection {projection!r} ({', '.join(PROJECTIONS)})")
    settings = load_settings()
    if switch_to:
        if to is None:
            raise ConfigurationError("--switch needs --to TARGET (a completed replay)")
        target = settings.topic(to) if projection == "register-state" else to
        _print_json(asyncio.run(switch(settings, projection, target)))
        return
    result = asyncio.run(_replay(settings, projection, parse_time(since, "--from"), to))
    if as_json:
        _print_json(result.to_json())
    else:
        print(
            f"mchub: {result.projection} {'resumed and ' if result.resumed else ''}replayed "
            f"into {result.target}: {result.records:,} records, {result.entries:,} entries "
            f"in {result.seconds:.1f} s"
        )


async def _replay(
    settings: Settings, projection: str, moment: datetime | None, to: str | None
) -> ReplayResult:
    from hub.audit.progress import ProgressBar
    from hub.audit.replay import default_target, replay_register_state, replay_to_directory

    progress = ProgressBar(f"replay {projection}")
    if projection == "register-state":
        topic = settings.topic(to) if to else settings.topic(default_target(settings, projection))
        return await replay_register_state(settings, topic, since=moment, progress=progress)
    target = Path(to) if to else Path(default_target(settings, projection))
    return await replay_to_directory(settings, projection, target, since=moment, progress=progress)


def redrive(
    destination: Annotated[str, typer.Option("--destination", help="register | wallet | edc")],
    since: Annotated[str, typer.Option("--from", help="re-deliver events logged at/after")],
    credential_id: Annotated[
        str | None, typer.Option("--credential", help="only this credential (id or key)")
    ] = None,
    url: Annotated[
        str | None, typer.Option("--url", help="base URL (default MCHUB_<DEST>_URL)")
    ] = None,
) -> None:
    """Re-deliver to one destination idempotently and record it in the delivery ledger."""
    from hub.audit.progress import ProgressBar
    from hub.audit.redrive import redrive as run_redrive

    settings = load_settings()
    moment = parse_time(since, "--from")
    assert moment is not None
    token = None
    if url is not None:
        token = settings.fanout.token(destination)
    summary = asyncio.run(
        run_redrive(
            settings,
            destination,
            moment,
            credential=credential_id,
            base_url=url,
            token=token,
            progress=ProgressBar(f"redrive {destination}"),
        )
    )
    _print_json(summary)
    if summary["failed"] or summary.get("parked"):
        raise typer.Exit(1)
