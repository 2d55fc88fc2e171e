"""``mchub learners erase|export``: erasure (GDPR Art. 17) and subject access (Art. 15).

See :mod:`hub.audit.learners` and docs/privacy.md. Exit codes: 0 success, 1 failure,
2 usage error.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from hub.errors import ConfigurationError
from hub.settings import load_settings
from hub.topics import LEARNER_ERASURES

app = typer.Typer(
    help="Learners' personal data: erase (Art. 17), export (Art. 15).",
    no_args_is_help=True,
    add_completion=False,
)

EducationId = Annotated[
    str, typer.Argument(metavar="EDUCATION_ID", help="the learner's education ID (11 digits)")
]


@app.callback()
def learners() -> None:
    """Learners' personal data: erase (Art. 17), export (Art. 15)."""


@app.command("erase")
def erase(
    education_id: EducationId,
    reason: Annotated[
        str, typer.Option("--reason", help="why (request reference); kept in the erasure event")
    ],
    yes: Annotated[bool, typer.Option("--yes", help="do not ask for confirmation")] = False,
    requested_by: Annotated[
        str | None, typer.Option("--by", help="operator recorded with the erasure (default: $USER)")
    ] = None,
) -> None:
    """Destroy the learner's data keys, append an erasure event and ask the register
    (MCHUB_REGISTER_URL) to erase the learner too (cannot be undone).

    Every sealed copy of the learner's identification — canonical log, decide requests,
    held revocations — reads "erased" from then on; the log is not rewritten and
    `mchub audit verify` still passes. Exit 1 when the register could not be told.
    """
    from hub.audit.learners import erase_learner
    from hub.audit.progress import ProgressBar

    if not reason.strip():
        raise ConfigurationError("--reason must say why (e.g. the request's reference)")
    if not yes:
        typer.confirm(
            f"Erase the personal data of learner {education_id}? This cannot be undone",
            abort=True,
        )
    settings = load_settings()
    event = asyncio.run(
        erase_learner(
            settings,
            education_id,
            reason=reason.strip(),
            requested_by=requested_by or getpass.getuser(),
            progress=ProgressBar("erase: reading the canonical log"),
        )
    )
    print(
        f"erased learner {event['pseudonym']}: {event['keysDestroyed']} key(s) destroyed; "
        f"{len(event['credentialIds'])} credential(s) and {len(event['enrolmentEventIds'])} "
        f"enrolment event(s) now read \"erased\"; erasure event on "
        f"{settings.topic(LEARNER_ERASURES)}"
    )
    if event["walletCopiesDeleted"]:
        print(f"wallet connector: {event['walletCopiesDeleted']} signed credential(s) it kept "
              "deleted")
    for name, answer in event["destinations"].items():
        if answer["status"] == "erased":
            print(f"{name}: erased {answer['credentials']} credential(s) and "
                  f"{answer['enrolments']} enrolment change(s)")
        else:
            print(f"mchub: {name} was not told ({answer['error']}); run the same erase again "
                  "once it is reachable", file=sys.stderr)
            raise typer.Exit(1)
    if not event["destinations"]:
        print("no register configured (MCHUB_REGISTER_URL): tell the register and wallet "
              "providers yourself", file=sys.stderr)


@app.command("export")
def export(
    education_id: EducationId,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="write the JSON here (default stdout)")
    ] = None,
) -> None:
    """Everything the hub holds on the learner, as one JSON document (subject access)."""
    from hub.audit.learners import export_learner
    from hub.audit.progress import ProgressBar

    settings = load_settings()
    doc = asyncio.run(
        export_learner(
            settings, education_id, progress=ProgressBar("export: reading the canonical log")
        )
    )
    text = json.dumps(doc, indent=2, ensure_ascii=False, default=str) + "\n"
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        print(f"wrote {output}: {len(doc['canonicalEvents'])} canonical event(s)", file=sys.stderr)
