"""The issuer registry: parsing, entitlements per sector/body/action, Kafka senders."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from hub.authz import (
    ISSUER_NOT_AUTHORISED,
    RegistryFile,
    example_registry_path,
    load_registry,
    parse_registry,
)
from hub.errors import ConfigurationError
from hub.normalise import normalise
from hub.normalise.types import NormalisedEvent
from tests.support import shared_dir

EXAMPLE = example_registry_path()
SAMPLES = shared_dir() / "feeds" / "samples"
HE_FI52804 = "02_kiallitas_agilis_projektmenedzsment.json"
HE_REVOKE = "04_visszavonas_agilis_projektmenedzsment.json"
AL_2021 = "FAR_E-2021-000457_20250702_01.csv"
AL_2020 = "FAR_E-2020-000123_20250701_01.csv"


def event(feed: str, name: str, row: int = 0) -> NormalisedEvent:
    result = normalise(feed, (SAMPLES / feed / name).read_bytes())
    found = result.items[row].event
    assert found is not None
    return found


def test_example_registry_loads_and_names_the_sample_bodies() -> None:
    registry = load_registry(EXAMPLE)
    assert registry.version
    assert registry.authorise("fir-central", event("he", HE_FI52804)) is None
    assert registry.authorise("kreta-central", event("vet", "01_kiallitas_cnc.xml")) is None  # "*"
    assert registry.authorise("far-central", event("al", AL_2021)) is None


def test_another_institutions_event_is_refused_with_rule_and_path() -> None:
    registry = load_registry(EXAMPLE)
    refused = registry.authorise("fi31457-own", event("he", HE_FI52804))
    assert refused is not None
    assert refused.rule == ISSUER_NOT_AUTHORISED and refused.path == "intezmeny.kod"
    assert "FI52804" in refused.message
    own = event("he", "01_kiallitas_tesztvezerelt_python.json")
    assert registry.authorise("fi31457-own", own) is None


def test_sector_matters_and_al_paths_name_the_row() -> None:
    registry = load_registry(EXAMPLE)
    # the FIR system is not entitled in the vet sector, even with a wildcard elsewhere
    assert registry.authorise("fir-central", event("vet", "01_kiallitas_cnc.xml")) is not None
    refused = registry.authorise("fir-central", event("al", AL_2020, 1))
    assert refused is not None and refused.path == "row 2: felnottkepzo_nyilvantartasi_szam"


def test_actions_are_separate_entitlements() -> None:
    doc = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    doc["sources"][0]["entitlements"][0]["actions"] = ["issue"]
    registry = parse_registry(json.dumps(doc))
    assert registry.authorise("fir-central", event("he", HE_FI52804)) is None
    revoke = registry.authorise("fir-central", event("he", HE_REVOKE))
    enrol = registry.authorise("fir-central", event("he", "05_beiratkozas.json"))
    assert revoke is not None and "revoke" in revoke.message
    assert enrol is not None and "enrol" in enrol.message


def test_unknown_or_missing_sender_is_refused() -> None:
    registry = load_registry(EXAMPLE)
    ev = event("he", "01_kiallitas_tesztvezerelt_python.json")
    assert registry.authorise("nobody", ev) is not None
    assert registry.authorise(None, ev) is not None


def test_the_feed_default_source_writes_the_shared_topic() -> None:
    registry = load_registry(EXAMPLE)
    assert registry.kafka_default_source("he") == "fir-central"
    doc = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    del doc["kafkaDefaultSource"]["al"]
    assert parse_registry(json.dumps(doc)).kafka_default_source("al") is None


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d["sources"].append(dict(d["sources"][0])), "appears twice"),
        (lambda d: d["kafkaDefaultSource"].update(he="ghost"), "kafkaDefaultSource"),
        (lambda d: d["sources"][0].update(id="Bad Id"), "sources.0.id"),
        (lambda d: d["sources"][0]["entitlements"][0].update(sector="xx"), "sector"),
        (lambda d: d.pop("version"), "version"),
    ],
)
def test_bad_registries_are_configuration_errors(change: object, message: str) -> None:
    doc = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    change(doc)  # type: ignore[operator]
    with pytest.raises(ConfigurationError, match=message):
        parse_registry(json.dumps(doc))


def test_registry_file_reloads_on_change_and_keeps_the_last_good_one(tmp_path: Path) -> None:
    path = tmp_path / "issuers.json"
    doc = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    path.write_text(json.dumps(doc), encoding="utf-8")
    registry = RegistryFile(path, check_interval=0.0)
    assert registry.current().version == doc["version"]
    doc["version"] = "2"
    path.write_text(json.dumps(doc), encoding="utf-8")
    later = time.time() + 5
    os.utime(path, (later, later))
    assert registry.current().version == "2"
    path.write_text("{not json", encoding="utf-8")
    os.utime(path, (later + 5, later + 5))
    assert registry.current().version == "2"  # broken file: logged, last good stays


def test_registry_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MCHUB_ISSUERS", raising=False)
    assert RegistryFile.from_environment() is None
    monkeypatch.setenv("MCHUB_ISSUERS", str(EXAMPLE))
    found = RegistryFile.from_environment()
    assert found is not None and found.current().version
