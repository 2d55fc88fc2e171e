"""Valid feed payloads of a chosen size, built from the contract's samples.

Sizes are reached the way the contract allows: §3.3 caps each learning-outcome text at
1,000 code points but not their number, so the ``he`` event gets many outcomes and the
``al`` file many rows (each with a few full-length outcomes). Every credential id, row
id and event id is distinct, so every row is its own accepted event.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

from hub.settings import default_shared_dir

SAMPLES = default_shared_dir() / "feeds" / "samples"
HE_SAMPLE = "he/01_kiallitas_tesztvezerelt_python.json"
AL_SAMPLE = "al/FAR_E-2020-000123_20250701_01.csv"
ESCO = "http://data.europa.eu/esco/skill/b8c280ca-56a4-537b-8b8d-f4918f4449de"
#: one learning-outcome text of exactly 1,000 code points (the §3.3 cap), non-ASCII too
OUTCOME = ("Értelmezi és alkalmazza a tanultakat. " * 30)[:1000].strip().ljust(1000, "x")


def _he_base() -> dict[str, object]:
    data: dict[str, object] = json.loads((SAMPLES / HE_SAMPLE).read_text(encoding="utf-8"))
    return data


def he_event(target_bytes: int, *, event_id: str | None = None, credential: str | None = None,
             now: datetime | None = None) -> bytes:
    """A valid ``he`` issuance of at most ``target_bytes`` (within 1.2 KB of it)."""
    event = _he_base()
    event["esemeny_azonosito"] = event_id or str(uuid.uuid4())
    moment = (now or datetime.now(UTC)).replace(microsecond=0)
    event["esemeny_idopont"] = moment.isoformat().replace("+00:00", "Z")
    diploma = event["oklevel"]
    assert isinstance(diploma, dict)
    if credential is not None:
        diploma["azonosito"] = credential
    one = {"szoveg": OUTCOME, "esco": ESCO}
    base = len(json.dumps(event, ensure_ascii=False).encode())
    per = len(json.dumps(one, ensure_ascii=False).encode()) + 2
    count = max(1, (target_bytes - base) // per)
    diploma["tanulasi_eredmenyek"] = [dict(one) for _ in range(count)]
    raw = json.dumps(event, ensure_ascii=False).encode()
    while len(raw) > target_bytes and count > 1:
        count -= 1
        diploma["tanulasi_eredmenyek"] = [dict(one) for _ in range(count)]
        raw = json.dumps(event, ensure_ascii=False).encode()
    return raw


def _al_lines() -> tuple[str, str]:
    lines = (SAMPLES / AL_SAMPLE).read_bytes().decode("utf-8").split("\r\n")
    issued = next(line for line in lines[1:] if ";KIALLITVA;" in line)
    return lines[0], issued


def al_file(target_bytes: int, *, outcomes_per_row: int = 5, tag: str | None = None) -> bytes:
    """A valid ``al`` file of at most ``target_bytes``: many issuance rows of one provider.

    Row ids and certificate numbers carry ``tag`` (default: random), so two files never
    share an idempotency or credential key.
    """
    header, issued = _al_lines()
    cells = issued.split(";")
    names = header.lstrip("\ufeff").split(";")
    col = {name: i for i, name in enumerate(names)}
    tag = tag or uuid.uuid4().hex[:8]
    cells[col["tanulasi_eredmenyek"]] = " | ".join([OUTCOME] * outcomes_per_row)
    cells[col["esco_uri"]] = " | ".join([ESCO] * outcomes_per_row)
    out = [header]  # keeps the sample's UTF-8 BOM
    size = len(header.encode()) + 2
    n = 0
    while True:
        n += 1
        cells[col["sor_azonosito"]] = f"R-{tag}-{n:06d}"
        cells[col["tanusitvany_szam"]] = f"T{tag}/{n:06d}"
        line = ";".join(cells)
        grown = size + len(line.encode()) + 2
        if grown > target_bytes:
            break
        out.append(line)
        size = grown
    return ("\r\n".join(out) + "\r\n").encode()


def al_rows(data: bytes) -> int:
    """Data rows of an ``al`` file built here."""
    return data.count(b"\r\n") - 1


def he_key(raw: bytes) -> bytes:
    """The contract's Kafka key of an ``he`` event."""
    event = json.loads(raw)
    return f"{event['intezmeny']['kod']}:{event['hallgato']['oktatasi_azonosito']}".encode()


def samples_dir() -> Path:
    """The samples folder (for tests that need the small ones)."""
    return SAMPLES
