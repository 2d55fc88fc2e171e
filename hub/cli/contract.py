"""The canonical contract on the command line: ``mchub schemas check|doc`` and ``mchub validate``.

``mchub validate [--json] FILE...`` reads canonical events in their JSON form (one object
per file, a JSON array, or JSON lines) and prints one line per problem::

    FILE[:LINE]<TAB>RULE<TAB>PATH<TAB>MESSAGE

Warnings go to stderr prefixed ``warning:``. Exit 0 when every event is valid, 1 when any
is not or a file cannot be read (one-line message, no traceback).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from hub.contract.avrogen import current_schemas
from hub.contract.compat import check_store
from hub.contract.docs import (
    RULES_REFERENCE,
    SCHEMA_REFERENCE,
    render_rules_reference,
    render_schema_reference,
)
from hub.contract.findings import Finding
from hub.contract.rules import ValidationContext, validate_data
from hub.contract.store import DEFAULT_SCHEMA_DIR, SchemaStore
from hub.errors import MchubError

schemas_app = typer.Typer(help="The canonical Avro schemas: compatibility check, reference doc.",
                          no_args_is_help=True, add_completion=False)


@schemas_app.command("check")
def check(
    directory: Annotated[Path, typer.Option(
        "--dir", help="schema directory (index.json + vN/)")] = DEFAULT_SCHEMA_DIR,
) -> None:
    """Prove FULL_TRANSITIVE compatibility of every released version (exit 1 if not)."""
    try:
        store = SchemaStore(directory)
    except MchubError as exc:
        _fail(str(exc))
    report = check_store(store)
    problems = list(report.problems)
    if directory.resolve() == DEFAULT_SCHEMA_DIR.resolve():
        problems.extend(_model_drift(store))
    for problem in problems:
        typer.echo(problem)
    verdict = "ok" if not problems else f"FAILED ({len(problems)} problem(s))"
    typer.echo(f"{store.compatibility}: versions {', '.join(map(str, report.versions))}; "
               f"{len(report.records)} record(s); {report.pairs_checked} reader/writer "
               f"pair(s) checked: {verdict}")
    if problems:
        raise typer.Exit(1)


def _model_drift(store: SchemaStore) -> list[str]:
    """Problems when the models no longer generate the newest released schemas."""
    problems = []
    for name, schema in current_schemas().items():
        try:
            released = store.get(name).schema
        except KeyError:
            released = None
        if released != schema:
            problems.append(f"{name}: the models differ from released v{store.current_version}"
                            f"; release them as a new version (hub.contract.store."
                            f"write_version) and rerun the check")
    return problems


@schemas_app.command("doc")
def doc(
    check_only: Annotated[bool, typer.Option(
        "--check", help="only verify the committed files are current (exit 1 if stale)")]
        = False,
) -> None:
    """Write docs/schema-reference.md and docs/validation-rules.md from the schemas."""
    targets = {SCHEMA_REFERENCE: render_schema_reference(),
               RULES_REFERENCE: render_rules_reference()}
    stale = []
    for path, text in targets.items():
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current != text:
            stale.append(path)
            if not check_only:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
    for path in stale:
        typer.echo(f"{'stale' if check_only else 'wrote'}: {path}")
    if check_only and stale:
        raise typer.Exit(1)
    if not stale:
        typer.echo("up to date")


def _fail(message: str) -> NoReturn:
    typer.echo(f"mchub: error: {message}", err=True)
    raise typer.Exit(1)


def _events(path: Path) -> list[tuple[int | None, Any]]:
    """The events in one file: ``(line or None, parsed JSON)``; ValueError/OSError if unreadable."""
    raw = sys.stdin.buffer.read() if str(path) == "-" else path.read_bytes()
    text = raw.decode("utf-8-sig")
    try:
        data = json.loads(text)
    except ValueError:
        data = None
        events: list[tuple[int | None, Any]] = []
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    events.append((number, json.loads(line)))
                except ValueError as exc:
                    raise ValueError(f"line {number}: not JSON ({exc})") from None
        if not events:
            raise ValueError("empty file") from None
        return events
    if isinstance(data, list):
        return [(None, item) for item in data]
    return [(None, data)]


def validate(
    files: Annotated[
        list[Path], typer.Argument(help="canonical events (JSON or JSON lines); - for stdin")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="print findings as JSON")] = False,
) -> None:
    """Check canonical events in their JSON form; exit 0 when all are valid, 1 otherwise."""
    ctx = ValidationContext.from_settings()
    rows: list[dict[str, Any]] = []
    unreadable: list[str] = []
    valid = True
    events_seen = 0
    for path in files:
        try:
            events = _events(path)
        except (OSError, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            unreadable.append(f"cannot read {path}: {reason}")
            valid = False
            continue
        for number, data in events:
            events_seen += 1
            location = f"{path}:{number}" if number is not None else str(path)
            findings: list[Finding] = validate_data(data, ctx)
            for finding in findings:
                valid = valid and finding.severity != "error"
                rows.append({"file": str(path), "line": number, "location": location,
                             **finding.as_dict()})
    if as_json:
        typer.echo(json.dumps({
            "valid": valid, "events": events_seen,
            "findings": [{k: v for k, v in r.items() if k != "location"} for r in rows],
            "unreadable": unreadable}, ensure_ascii=False))
    else:
        for row in rows:
            line = f"{row['location']}\t{row['rule']}\t{row['path']}\t{row['message']}"
            if row["severity"] == "error":
                typer.echo(line)
            else:
                typer.echo(f"warning: {line}", err=True)
    for message in unreadable:
        print(f"mchub: error: {message}", file=sys.stderr)
    if not valid:
        raise typer.Exit(1)
