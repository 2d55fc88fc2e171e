"""Schema evolution check: FULL_TRANSITIVE compatibility of every released version.

FULL_TRANSITIVE means: data written with any released version can be read with any other
released version (older or newer), through Avro schema resolution. ``check_store`` proves
it two ways for every ordered pair of versions and every record name:

1. **rules**: the Avro resolution rules applied to the two schemas (reader fields missing
   in the writer need a default, types must match or be promotable, enum symbols and union
   branches must resolve, decimal precision and scale must agree), with messages that name
   the field;
2. **data**: fixtures synthesised from the writer schema (one with every optional value
   set, one minimal) are written with fastavro and read back with the reader schema.

It also checks that every released schema file still has the fingerprint recorded in the
index (released versions are immutable).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import fastavro
from fastavro.schema import expand_schema

from hub.contract.store import INDEX_FILE, SchemaEntry, SchemaStore

_PROMOTIONS: dict[str, set[str]] = {
    "int": {"long", "float", "double"},
    "long": {"float", "double"},
    "float": {"double"},
    "string": {"bytes"},
    "bytes": {"string"},
}


@dataclass
class CompatReport:
    """Outcome of a compatibility check: pairs checked and the problems found."""

    versions: list[int]
    records: list[str]
    pairs_checked: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems


def _norm(schema: Any) -> Any:
    if isinstance(schema, str):
        return {"type": schema}
    if isinstance(schema, dict) and isinstance(schema.get("type"), dict | list):
        return _norm(schema["type"]) if len(schema) == 1 else schema
    return schema


def _type_name(schema: Any) -> str:
    s = _norm(schema)
    if isinstance(s, list):
        return "union"
    name = s.get("name") if s["type"] in ("record", "enum", "fixed") else None
    logical = s.get("logicalType")
    base = str(name or s["type"])
    return f"{base}/{logical}" if logical else base


def resolution_problems(writer: Any, reader: Any, path: str) -> Iterator[str]:
    """Why data written with ``writer`` cannot be read with ``reader`` (expanded schemas)."""
    w, r = _norm(writer), _norm(reader)
    if isinstance(r, list):
        if isinstance(w, list):
            for branch in w:
                if not any(not list(resolution_problems(branch, rb, path)) for rb in r):
                    yield (f"{path}: writer union branch {_type_name(branch)} has no "
                           f"matching branch in the reader union")
        elif not any(not list(resolution_problems(w, rb, path)) for rb in r):
            yield f"{path}: writer type {_type_name(w)} matches no branch of the reader union"
        return
    if isinstance(w, list):
        for branch in w:
            if list(resolution_problems(branch, r, path)):
                yield (f"{path}: writer union branch {_type_name(branch)} cannot be read as "
                       f"{_type_name(r)}")
        return
    wt, rt = w["type"], r["type"]
    if w.get("logicalType") != r.get("logicalType"):
        yield f"{path}: type changed from {_type_name(w)} to {_type_name(r)}"
        return
    if w.get("logicalType") == "decimal" and (
            (w.get("precision"), w.get("scale", 0)) != (r.get("precision"), r.get("scale", 0))):
        yield (f"{path}: decimal({w.get('precision')},{w.get('scale', 0)}) changed to "
               f"decimal({r.get('precision')},{r.get('scale', 0)})")
        return
    if wt != rt:
        if rt not in _PROMOTIONS.get(wt, set()):
            yield f"{path}: type changed from {wt} to {rt}"
        return
    if wt == "record":
        if w["name"] != r["name"] and w["name"] not in r.get("aliases", []):
            yield f"{path}: record name changed from {w['name']} to {r['name']}"
            return
        writer_fields = {f["name"]: f for f in w["fields"]}
        for rf in r["fields"]:
            names = [rf["name"], *rf.get("aliases", [])]
            wf = next((writer_fields[n] for n in names if n in writer_fields), None)
            fpath = f"{path}.{rf['name']}"
            if wf is None:
                if "default" not in rf:
                    yield (f"{fpath}: reader field '{rf['name']}' is missing from the writer "
                           f"schema and has no default")
                continue
            yield from resolution_problems(wf["type"], rf["type"], fpath)
    elif wt == "enum":
        missing = [s for s in w["symbols"] if s not in r["symbols"]]
        if missing and "default" not in r:
            yield f"{path}: enum symbols {missing} unknown to the reader (no enum default)"
    elif wt == "array":
        yield from resolution_problems(w["items"], r["items"], f"{path}[]")
    elif wt == "map":
        yield from resolution_problems(w["values"], r["values"], f"{path}{{}}")
    elif wt == "fixed" and (w["size"] != r["size"] or w["name"] != r["name"]):
        yield f"{path}: fixed {w['name']}[{w['size']}] changed to {r['name']}[{r['size']}]"


def synthesise(schema: Any, *, full: bool = True, depth: int = 0) -> Any:
    """A datum (Avro dict form) for ``schema``: every optional value set (``full``) or none."""
    if depth > 32:
        raise ValueError("schema nests too deeply (recursive?)")
    s = _norm(schema)
    if isinstance(s, list):
        non_null = [b for b in s if _norm(b).get("type") != "null"] if full else []
        branch = non_null[0] if non_null else s[0]
        return synthesise(branch, full=full, depth=depth + 1)
    kind, logical = s["type"], s.get("logicalType")
    if logical == "date":
        return date(2025, 6, 30)
    if logical in ("timestamp-micros", "timestamp-millis"):
        return datetime(2025, 6, 30, 12, 0, tzinfo=UTC)
    if logical == "decimal":
        return Decimal(1).scaleb(-int(s.get("scale", 0))) + 1
    simple: dict[str, Any] = {"null": None, "boolean": True, "int": 7, "long": 7,
                              "float": 1.5, "double": 1.5, "string": "x", "bytes": b"x"}
    if kind in simple:
        return simple[kind]
    if kind == "record":
        return {f["name"]: synthesise(f["type"], full=full, depth=depth + 1)
                for f in s["fields"]}
    if kind == "enum":
        return s["symbols"][0]
    if kind == "fixed":
        return b"\0" * int(s["size"])
    if kind == "array":
        return [synthesise(s["items"], full=full, depth=depth + 1)] * (2 if full else 0)
    if kind == "map":
        return {"k": synthesise(s["values"], full=full, depth=depth + 1)} if full else {}
    raise ValueError(f"cannot synthesise {kind}")


def data_problems(writer: SchemaEntry, reader: SchemaEntry) -> Iterator[str]:
    """Write synthesised fixtures with ``writer``, read them with ``reader`` via fastavro."""
    for full in (True, False):
        datum = synthesise(expand_schema(writer.schema), full=full)
        buffer = io.BytesIO()
        try:
            fastavro.schemaless_writer(buffer, writer.parsed, datum)
            buffer.seek(0)
            fastavro.schemaless_reader(buffer, writer.parsed, reader.parsed)
        except Exception as exc:  # noqa: BLE001 - fastavro resolution errors have many types
            kind = "full" if full else "minimal"
            yield (f"{writer.name}: v{writer.version} {kind} fixture not readable with "
                   f"v{reader.version}: {type(exc).__name__}: {exc}")


def check_store(store: SchemaStore) -> CompatReport:
    """Check every ordered pair of released versions of every record (FULL_TRANSITIVE)."""
    entries = store.entries()
    report = CompatReport(versions=list(store.versions),
                          records=sorted({e.name for e in entries}))
    report.problems.extend(_fingerprint_problems(store))
    for writer in entries:
        for reader in entries:
            if writer.name != reader.name:
                continue
            report.pairs_checked += 1
            prefix = f"{writer.name}: v{writer.version} data read with v{reader.version}"
            rules = list(resolution_problems(expand_schema(writer.schema),
                                             expand_schema(reader.schema), writer.name))
            report.problems.extend(f"{prefix}: {p}" for p in rules)
            if not rules:
                report.problems.extend(data_problems(writer, reader))
    return report


def check_dir(root: Path) -> CompatReport:
    """:func:`check_store` for the schema directory ``root``."""
    return check_store(SchemaStore(root))


def _fingerprint_problems(store: SchemaStore) -> Iterator[str]:
    index = json.loads((store.root / INDEX_FILE).read_text(encoding="utf-8"))
    for item in index.get("versions", []):
        for name, recorded in (item.get("fingerprints") or {}).items():
            entry = store.get(name, int(item["version"]))
            if entry.fingerprint.hex() != recorded:
                yield (f"{name}: released v{item['version']} was edited (fingerprint "
                       f"{entry.fingerprint.hex()}, index says {recorded}); release a new "
                       f"version instead")
