"""Helpers for the normaliser tests: locate the shared samples, build mutated payloads."""

from __future__ import annotations

import copy
import csv
import io
import json
import os
from pathlib import Path
from typing import Any

from hub.normalise.types import MessageResult, NormalisedEvent

REPO_ROOT = Path(__file__).resolve().parents[3]

#: sentinel for "remove this member / element"
DELETE = object()

HE_ISSUE = "01_kiallitas_tesztvezerelt_python.json"
HE_ISSUE_FOREIGN = "03_kiallitas_haccp_elelmiszer.json"
HE_REVOKE = "04_visszavonas_agilis_projektmenedzsment.json"
HE_WITHDRAW = "07_kimaradas.json"
VET_ISSUE = "01_kiallitas_cnc.xml"
VET_REVOKE = "04_visszavonas_szarazepites.xml"
VET_WITHDRAW = "07_kimaradas.xml"
AL_FILE = "FAR_E-2020-000123_20250701_01.csv"
AL_FILE_QUOTED = "FAR_E-2021-000457_20250702_01.csv"


def shared_dir() -> Path:
    """The read-only ``shared/`` folder: ``$MCHUB_SHARED_DIR`` or ``../shared`` next to the repo."""
    env = os.environ.get("MCHUB_SHARED_DIR")
    if env:
        return Path(env).resolve()
    for base in (REPO_ROOT, *REPO_ROOT.parents):
        candidate = base.parent / "shared"
        if (candidate / "feeds" / "samples").is_dir():
            return candidate.resolve()
    return (REPO_ROOT.parent / "shared").resolve()


SAMPLES = shared_dir() / "feeds" / "samples"


def sample_bytes(feed: str, name: str) -> bytes:
    """Raw bytes of one shared sample."""
    return (SAMPLES / feed / name).read_bytes()


def sample_files(feed: str) -> list[Path]:
    """The samples of a feed in file-name order."""
    return sorted((SAMPLES / feed).iterdir())


# --- he ---------------------------------------------------------------------------------


def he_doc(name: str = HE_ISSUE) -> dict[str, Any]:
    """A parsed ``he`` sample (a fresh copy each time)."""
    doc: dict[str, Any] = json.loads(sample_bytes("he", name))
    return doc


def he_bytes(doc: Any, **dumps: Any) -> bytes:
    """Serialise a ``he`` document as UTF-8 JSON."""
    dumps.setdefault("ensure_ascii", False)
    return json.dumps(doc, **dumps).encode("utf-8")


def set_path(doc: Any, path: str, value: Any) -> Any:
    """A copy of ``doc`` with the member at dotted ``path`` (``a.b[2].c``) set or deleted."""
    doc = copy.deepcopy(doc)
    parts: list[str | int] = []
    for segment in path.split("."):
        name, _, rest = segment.partition("[")
        parts.append(name)
        if rest:
            parts.append(int(rest.rstrip("]")))
    target = doc
    for part in parts[:-1]:
        target = target[part]
    last = parts[-1]
    if value is DELETE:
        del target[last]
    else:
        target[last] = value
    return doc


# --- vet --------------------------------------------------------------------------------


def vet_text(name: str = VET_ISSUE) -> str:
    """A ``vet`` sample as text."""
    return sample_bytes("vet", name).decode("utf-8")


def vet_replace(old: str, new: str, name: str = VET_ISSUE) -> bytes:
    """A ``vet`` sample with one exact snippet replaced (the snippet must occur)."""
    text = vet_text(name)
    assert old in text, f"{old!r} not in {name}"
    return text.replace(old, new, 1).encode("utf-8")


# --- al ---------------------------------------------------------------------------------


def al_table(name: str = AL_FILE) -> tuple[list[str], list[list[str]]]:
    """Header and rows of an ``al`` sample, read with the standard csv module."""
    text = sample_bytes("al", name).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))
    return rows[0], [row for row in rows[1:] if row]


def al_bytes(
    header: list[str],
    rows: list[list[str]],
    *,
    bom: bool = True,
    newline: str = "\r\n",
    quote_all: bool = False,
) -> bytes:
    """Write an ``al`` file with the standard csv module."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(
        buffer,
        delimiter=";",
        lineterminator=newline,
        quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL,
    )
    writer.writerow(header)
    writer.writerows(rows)
    return (b"\xef\xbb\xbf" if bom else b"") + buffer.getvalue().encode("utf-8")


def al_row(sample_row: int, **cells: str) -> bytes:
    """A one-row file: row ``sample_row`` (1-based) of the first al sample, cells replaced."""
    header, rows = al_table()
    row = list(rows[sample_row - 1])
    for column, value in cells.items():
        row[header.index(column)] = value
    return al_bytes(header, [row])


# --- results ----------------------------------------------------------------------------


def only_event(result: MessageResult) -> NormalisedEvent:
    """The event of a one-item result that must be accepted."""
    assert not result.file_violations, result.file_violations
    assert len(result.items) == 1, result.items
    item = result.items[0]
    assert item.accepted and item.event is not None, [v.as_dict() for v in item.violations]
    return item.event


def rules_of(result: MessageResult, item: int = 0) -> dict[str, str]:
    """``{rule: path}`` of the file violations, or else of item ``item``."""
    violations = result.file_violations or result.items[item].violations
    found: dict[str, str] = {}
    for violation in violations:
        assert violation.message, violation
        found.setdefault(violation.rule, violation.path)
    return found
