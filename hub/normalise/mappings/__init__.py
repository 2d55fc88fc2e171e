"""Versioned code-list mappings (feed contract §7), kept as data in ``v1.json``.

The tables are loaded once at import. :data:`MAPPING_VERSION` is stamped into every
:class:`hub.normalise.types.NormalisedEvent`, so a record always says which mapping
produced its URIs. A new table version is a new file plus a new version string.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

MAPPING_FILE: Final = Path(__file__).with_name("v1.json")

_TABLES: Final = (
    "assessment",
    "participation",
    "qualityAssurance",
    "revocationReason",
    "supervision",
    "eventType",
)


@dataclass(frozen=True)
class FeedMapping:
    """The code lists of one feed: source code -> canonical value (URI or hub code)."""

    assessment: Mapping[str, str]
    participation: Mapping[str, str]
    quality_assurance: Mapping[str, str]
    revocation_reason: Mapping[str, str]
    supervision: Mapping[str, str]
    event_type: Mapping[str, str]
    cycle: Mapping[str, str]
    grade_scale: Mapping[str, str]


def _table(raw: Any, feed: str, name: str) -> Mapping[str, str]:
    """One code table, checked to be a flat str -> str object."""
    if not isinstance(raw, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in raw.items()
    ):
        raise ValueError(f"{MAPPING_FILE.name}: feeds.{feed}.{name} must map strings to strings")
    return MappingProxyType(dict(raw))


def load_mappings(path: Path = MAPPING_FILE) -> tuple[str, dict[str, FeedMapping]]:
    """Read a mapping file: its version string and the tables of every feed."""
    data = json.loads(path.read_text(encoding="utf-8"))
    version = data["version"]
    if not isinstance(version, str) or not version:
        raise ValueError(f"{path.name}: 'version' must be a non-empty string")
    feeds: dict[str, FeedMapping] = {}
    for feed, tables in data["feeds"].items():
        missing = [t for t in _TABLES if t not in tables]
        if missing:
            raise ValueError(f"{path.name}: feeds.{feed} lacks {', '.join(missing)}")
        feeds[feed] = FeedMapping(
            assessment=_table(tables["assessment"], feed, "assessment"),
            participation=_table(tables["participation"], feed, "participation"),
            quality_assurance=_table(tables["qualityAssurance"], feed, "qualityAssurance"),
            revocation_reason=_table(tables["revocationReason"], feed, "revocationReason"),
            supervision=_table(tables["supervision"], feed, "supervision"),
            event_type=_table(tables["eventType"], feed, "eventType"),
            cycle=_table(tables.get("cycle", {}), feed, "cycle"),
            grade_scale=_table(tables.get("gradeScale", {}), feed, "gradeScale"),
        )
    return version, feeds


MAPPING_VERSION: str
FEEDS: Mapping[str, FeedMapping]
MAPPING_VERSION, _feeds = load_mappings()
FEEDS = MappingProxyType(_feeds)
HE: Final = FEEDS["he"]
VET: Final = FEEDS["vet"]
AL: Final = FEEDS["al"]
