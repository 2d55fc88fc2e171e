"""The schema store: every released version of the canonical schemas, by fingerprint.

Layout (``hub/contract/schemas/eu.mchub.canonical/``, package data)::

    index.json   {"namespace", "compatibility",
                  "versions": [{"version", "dir", "records", "fingerprints"}]}
    v1/CredentialIssued.avsc
    v1/CredentialRevoked.avsc
    v1/EnrolmentRecorded.avsc

Released versions are never edited; a change is a new ``vN`` directory plus an index
entry, and ``mchub schemas check`` must prove it FULL_TRANSITIVE compatible with every
earlier version. Each schema file is self-contained (named types inlined).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import fastavro

from hub.contract.fingerprint import schema_fingerprint
from hub.contract.models import NAMESPACE
from hub.errors import ConfigurationError
from hub.resources import package_path

#: where the released schemas of :data:`~hub.contract.models.NAMESPACE` live
DEFAULT_SCHEMA_DIR: Final = package_path("hub.contract", "schemas", NAMESPACE)
INDEX_FILE: Final = "index.json"


@dataclass(frozen=True)
class SchemaEntry:
    """One released schema: a record name in one version, parsed and fingerprinted."""

    name: str
    version: int
    path: Path
    schema: dict[str, Any] = field(repr=False)
    parsed: dict[str, Any] = field(repr=False, compare=False)
    fingerprint: bytes

    @property
    def full_name(self) -> str:
        """The namespaced Avro record name."""
        return str(self.schema["name"])


class SchemaStore:
    """All released versions under one directory, resolvable by name/version or fingerprint."""

    def __init__(self, root: Path = DEFAULT_SCHEMA_DIR) -> None:
        """Load and parse every version listed in ``root/index.json``.

        Raises :class:`~hub.errors.ConfigurationError` when the index or a schema file is
        missing or not a valid Avro schema.
        """
        self.root = root
        try:
            index = json.loads((root / INDEX_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigurationError(f"cannot read schema index {root / INDEX_FILE}: {exc}") \
                from exc
        self.namespace: str = index.get("namespace", NAMESPACE)
        self.compatibility: str = index.get("compatibility", "FULL_TRANSITIVE")
        self._entries: dict[tuple[str, int], SchemaEntry] = {}
        self._by_fingerprint: dict[bytes, SchemaEntry] = {}
        versions: list[int] = []
        for item in index.get("versions", []):
            version = int(item["version"])
            versions.append(version)
            for name in item["records"]:
                path = root / item.get("dir", f"v{version}") / f"{name}.avsc"
                entry = _load(path, name, version)
                self._entries[(name, version)] = entry
                self._by_fingerprint.setdefault(entry.fingerprint, entry)
        if not versions:
            raise ConfigurationError(f"schema index {root / INDEX_FILE} lists no versions")
        self.versions: list[int] = sorted(versions)

    @property
    def current_version(self) -> int:
        """The newest released version (what writers use)."""
        return self.versions[-1]

    def names(self, version: int | None = None) -> list[str]:
        """Record names released in ``version`` (default: the current one)."""
        wanted = self.current_version if version is None else version
        return [name for (name, v) in self._entries if v == wanted]

    def get(self, name: str, version: int | None = None) -> SchemaEntry:
        """The schema of record ``name`` in ``version`` (default: current); KeyError if none."""
        return self._entries[(name, self.current_version if version is None else version)]

    def find(self, fingerprint: bytes) -> SchemaEntry | None:
        """The released schema with this 8-byte fingerprint, or None."""
        return self._by_fingerprint.get(fingerprint)

    def entries(self) -> list[SchemaEntry]:
        """Every released schema, by version then name."""
        return sorted(self._entries.values(), key=lambda e: (e.version, e.name))


def _load(path: Path, name: str, version: int) -> SchemaEntry:
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
        parsed = fastavro.parse_schema(schema)
        if not isinstance(parsed, dict):
            raise ValueError("a canonical schema must be a record")
    except (OSError, ValueError, fastavro.schema.SchemaParseException) as exc:
        raise ConfigurationError(f"cannot load schema {path}: {exc}") from exc
    return SchemaEntry(name=name, version=version, path=path, schema=schema, parsed=parsed,
                       fingerprint=schema_fingerprint(schema))


def write_version(root: Path, version: int, schemas: dict[str, dict[str, Any]]) -> None:
    """Release ``schemas`` (record name -> schema) as ``version`` under ``root``.

    Writes ``root/v{version}/{name}.avsc`` and adds (or replaces) the version in the index.
    """
    directory = root / f"v{version}"
    directory.mkdir(parents=True, exist_ok=True)
    for name, schema in schemas.items():
        (directory / f"{name}.avsc").write_text(
            json.dumps(schema, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    index_path = root / INDEX_FILE
    index: dict[str, Any] = (json.loads(index_path.read_text(encoding="utf-8"))
                             if index_path.exists() else
                             {"namespace": NAMESPACE, "compatibility": "FULL_TRANSITIVE",
                              "versions": []})
    index["versions"] = [v for v in index["versions"] if int(v["version"]) != version]
    index["versions"].append({
        "version": version, "dir": f"v{version}", "records": sorted(schemas),
        "fingerprints": {name: schema_fingerprint(schemas[name]).hex()
                         for name in sorted(schemas)},
    })
    index["versions"].sort(key=lambda v: int(v["version"]))
    index_path.write_text(json.dumps(index, indent=2) + "\n", encoding="utf-8")
