"""Feed ``al`` (adult learning, FAR-like CSV batches): one event per data row (contract §6).

The file must start with the UTF-8 BOM; records are split by a small RFC 4180 reader
(``;`` separator, ``"`` quoting with ``""`` escapes, CRLF or LF). The header names the
28 columns in any order. File-level failures reject the whole file; every data row is
then an independent event with its own violations.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, Final

from hub import vocab
from hub.normalise import common as c
from hub.normalise.mappings import AL, MAPPING_VERSION
from hub.normalise.types import ItemResult, MessageResult, NormalisedEvent, Violation

BOM: Final = b"\xef\xbb\xbf"
SEPARATOR: Final = ";"
COLUMNS: Final = (
    "sor_azonosito",
    "statusz",
    "esemeny_datuma",
    "felnottkepzo_nyilvantartasi_szam",
    "felnottkepzo_neve",
    "kepzes_azonosito",
    "kepzes_megnevezese",
    "kepzes_megnevezese_angol",
    "oktatasi_azonosito",
    "csaladi_nev",
    "utonev",
    "szuletesi_datum",
    "tanusitvany_szam",
    "oraszam",
    "mkkr_szint",
    "iscedf",
    "tanulasi_eredmenyek",
    "esco_uri",
    "ertekeles",
    "reszvetel_formaja",
    "minosegbiztositas",
    "eredmeny_szazalek",
    "elofeltetelek",
    "vizsga_felugyelet",
    "beszamithatosag",
    "tovabbi_informacio",
    "visszavonas_oka",
    "visszavonas_indoklasa",
)
_COLUMN_SET: Final = frozenset(COLUMNS)
_RECORD_TYPES: Final = {
    "issued": "credential",
    "revoked": "revocation",
    "enrolled": "enrolment",
    "withdrawn": "enrolment",
    "completed": "enrolment",
}
_NO_ESCO: Final = frozenset({"", "-"})
_UNQUOTED_RE: Final = re.compile(r'[^;\n"]*')

Out = list[Violation]
Row = dict[str, str]


class CsvError(ValueError):
    """Quoting that cannot be parsed (MALFORMED for the whole file)."""


def records(text: str) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(line number, raw cells)`` per record; completely empty lines are skipped.

    ``text`` has LF line endings. Raises :class:`CsvError` on broken quoting.
    """
    pos, size, line = 0, len(text), 1
    while pos < size:
        end = text.find("\n", pos)
        if end < 0:
            end = size
        start_line = line
        if text.find('"', pos, end) < 0:  # fast path: no quoting on this line
            raw = text[pos:end]
            pos, line = end + 1, line + 1
            if raw.strip():
                yield start_line, raw.split(SEPARATOR)
            continue
        cells: list[str] = []
        while True:
            if pos < size and text[pos] == '"':
                cell, pos, line = _quoted(text, pos, line)
                cells.append(cell)
            else:
                stop = _UNQUOTED_RE.match(text, pos).end()  # type: ignore[union-attr]
                if stop < size and text[stop] == '"':
                    raise CsvError(f"line {line}: a quote inside an unquoted cell")
                cells.append(text[pos:stop])
                pos = stop
            if pos >= size:
                break
            if text[pos] == SEPARATOR:
                pos += 1
                continue
            if text[pos] == "\n":
                pos += 1
                line += 1
                break
            raise CsvError(f"line {line}: characters after a closing quote")
        yield start_line, cells


def _quoted(text: str, pos: int, line: int) -> tuple[str, int, int]:
    """Read one quoted cell starting at ``pos`` (the opening quote)."""
    start = pos + 1
    search = start
    while True:
        close = text.find('"', search)
        if close < 0:
            raise CsvError(f"line {line}: a quoted cell is never closed")
        if text.startswith('"', close + 1):
            search = close + 2
            continue
        raw = text[start:close]
        return raw.replace('""', '"'), close + 1, line + raw.count("\n")


def _file_reject(rule: str, path: str, message: str) -> MessageResult:
    """A file rejected as a whole: no row is processed."""
    return MessageResult(feed="al", file_violations=(Violation(rule, path, message),))


def normalise_al(payload: bytes) -> MessageResult:
    """Normalise one ``al`` CSV file (never raises on any input bytes)."""
    if len(payload) > c.MAX_BYTES["al"]:
        return _file_reject(
            c.PAYLOAD_TOO_LARGE, c.PAYLOAD_PATH, f"{len(payload)} bytes exceed 8 MiB (8388608)"
        )
    if not payload.startswith(BOM):
        return _file_reject(
            c.ENCODING, c.PAYLOAD_PATH, "the file must start with the UTF-8 byte order mark"
        )
    try:
        text = payload[len(BOM) :].decode("utf-8")
    except UnicodeDecodeError as exc:
        return _file_reject(
            c.ENCODING, c.PAYLOAD_PATH, f"not UTF-8: {exc.reason} at byte {exc.start + 3}"
        )
    text = text.replace("\r\n", "\n")
    reader = records(text)
    try:
        # the header is judged as soon as it is read, so a wrong separator is CSV_HEADER
        # even when later quoting only looks broken because of that separator
        first = next(reader, None)
        if first is None:
            return _file_reject(c.CSV_HEADER, "header", "the file has no header")
        header = [c.clean(name) for name in first[1]]
        problem = _header_problem(header)
        if problem:
            return _file_reject(c.CSV_HEADER, "header", problem)
        rows = [cells for _, cells in reader]
    except CsvError as exc:
        return _file_reject(c.MALFORMED, c.PAYLOAD_PATH, f"CSV quoting is broken: {exc}")
    items = tuple(_row(index, header, cells) for index, cells in enumerate(rows, start=1))
    return MessageResult(feed="al", items=items)


def _header_problem(header: list[str]) -> str | None:
    """Why the header is not the 28 columns exactly once each, or None."""
    seen: set[str] = set()
    duplicate: list[str] = []
    for name in header:
        if name in seen and name not in duplicate:
            duplicate.append(name)
        seen.add(name)
    unknown = [name for name in header if name not in _COLUMN_SET]
    missing = [name for name in COLUMNS if name not in seen]
    parts = []
    if missing:
        parts.append(f"missing column(s) {', '.join(missing)}")
    if duplicate:
        parts.append(f"duplicate column(s) {', '.join(duplicate)}")
    if unknown:
        shown = ", ".join(repr(n if len(n) <= 60 else n[:57] + "...") for n in unknown[:5])
        parts.append(f"unknown column(s) {shown} (the separator must be ';')")
    return "; ".join(parts) or None


def _row(index: int, header: list[str], cells: list[str]) -> ItemResult:
    """Check and normalise one data row."""
    prefix = f"row {index}: "
    if len(cells) != len(header):
        row_id = None
        if "sor_azonosito" in header:
            position = header.index("sor_azonosito")
            if position < len(cells):
                row_id = c.clean(cells[position]) or None
        return ItemResult(
            event=None,
            violations=(
                Violation(
                    c.CSV_COLUMN_COUNT,
                    f"row {index}",
                    f"row has {len(cells)} cells, the header has {len(header)}",
                ),
            ),
            row=index,
            sor_azonosito=row_id,
        )
    row: Row = {name: c.clean(value) for name, value in zip(header, cells, strict=True)}
    out: Out = []
    row_id = c.identifier(
        out,
        row["sor_azonosito"],
        prefix + "sor_azonosito",
        c.AL_ROW_ID_RE,
        "row id",
        required=True,
    )
    provider = c.identifier(
        out,
        row["felnottkepzo_nyilvantartasi_szam"],
        prefix + "felnottkepzo_nyilvantartasi_szam",
        c.FAR_RE,
        "provider registration number",
        required=True,
    )
    key = f"al:{provider}:{row_id}" if provider and row_id else None
    shown_id = row_id or row["sor_azonosito"] or None
    status = row["statusz"]
    event_type = AL.event_type.get(status)
    if event_type is None:
        if status:
            rule, message = c.UNKNOWN_EVENT_TYPE, f"unknown statusz {status!r}"
        else:
            rule, message = c.MISSING_REQUIRED, "statusz is missing"
        return ItemResult(
            event=None,
            violations=(Violation(rule, prefix + "statusz", message),),
            row=index,
            sor_azonosito=shown_id,
            idempotency_key=key,
        )

    learner_id = c.education_id(out, row["oktatasi_azonosito"], prefix + "oktatasi_azonosito")
    credential_key: str | None = None
    if event_type == "issued":
        record, cred_id = _issuance(out, row, prefix, provider, learner_id)
    elif event_type == "revoked":
        record, cred_id = _revocation(out, row, prefix, provider)
    else:
        record, cred_id = _enrolment(out, row, prefix, provider, learner_id, event_type), None
    if provider and cred_id:
        credential_key = f"al:{provider}:{cred_id}"

    if out or row_id is None or provider is None or learner_id is None:
        return ItemResult(
            event=None,
            violations=tuple(out),
            row=index,
            sor_azonosito=shown_id,
            idempotency_key=key,
        )
    event = NormalisedEvent(
        feed="al",
        record_type=_RECORD_TYPES[event_type],  # type: ignore[arg-type]
        event_type=event_type,
        idempotency_key=f"al:{provider}:{row_id}",
        credential_key=credential_key,
        source_event_id=row_id,
        learner_id=learner_id,
        awarding_body_id=provider,
        occurred_at=None,
        record=record,
        content=c.canonical_json(row),
        mapping_version=MAPPING_VERSION,
        row=index,
        sor_azonosito=row_id,
    )
    return ItemResult(
        event=event, row=index, sor_azonosito=row_id, idempotency_key=event.idempotency_key
    )


def _items(out: Out, value: str, path: str, what: str, *, required: bool) -> list[str]:
    """A ``|``-separated cell; an empty item among non-empty ones is INVALID_FORMAT."""
    if not value:
        if required:
            c.add(out, c.MISSING_REQUIRED, path, f"required {what} is empty")
        return []
    items = [c.clean(item) for item in value.split("|")]
    if any(not item for item in items):
        c.add(out, c.INVALID_FORMAT, path, f"empty item in the {what} list")
    return items


def _learner(out: Out, row: Row, prefix: str, learner_id: str | None) -> dict[str, Any]:
    """Canonical learner identification."""
    return {
        "educationId": learner_id,
        "familyName": c.text(
            out, row["csaladi_nev"], prefix + "csaladi_nev", c.PERSON_NAME_MAX, required=True
        ),
        "givenName": c.text(
            out, row["utonev"], prefix + "utonev", c.PERSON_NAME_MAX, required=True
        ),
        "dateOfBirth": c.hu_date(out, row["szuletesi_datum"], prefix + "szuletesi_datum"),
    }


def _provider(out: Out, row: Row, prefix: str, provider: str | None, *, required: bool) -> Any:
    """The provider as a canonical awarding body."""
    name = c.text(
        out,
        row["felnottkepzo_neve"],
        prefix + "felnottkepzo_neve",
        c.BODY_NAME_MAX,
        required=required,
    )
    return c.body(provider, "HU-FAR", name, vocab.HUN_COUNTRY)


def _codes(out: Out, row: Row, column: str, prefix: str, table: Any, what: str) -> list[str]:
    """A multi-valued code cell mapped to URIs, de-duplicated in order."""
    mapped: list[str] = []
    for item in _items(out, row[column], prefix + column, what, required=True):
        if item:
            uri = c.code(out, item, prefix + column, table, what, required=True)
            if uri is not None:
                mapped.append(uri)
    return c.dedupe(mapped)


def _issuance(
    out: Out, row: Row, prefix: str, provider: str | None, learner_id: str | None
) -> tuple[dict[str, Any], str | None]:
    """The 18 canonical elements of a ``KIALLITVA`` row and the certificate number."""
    ident = _learner(out, row, prefix, learner_id)
    body = _provider(out, row, prefix, provider, required=True)
    cred_id = c.identifier(
        out,
        row["tanusitvany_szam"],
        prefix + "tanusitvany_szam",
        c.CREDENTIAL_ID_RE,
        "certificate number",
        required=True,
    )
    c.identifier(
        out,
        row["kepzes_azonosito"],
        prefix + "kepzes_azonosito",
        c.PROGRAMME_ID_RE,
        "programme id",
        required=True,
    )
    title_hu = c.text(
        out, row["kepzes_megnevezese"], prefix + "kepzes_megnevezese", c.TITLE_MAX, required=True
    )
    title_en = c.text(
        out,
        row["kepzes_megnevezese_angol"],
        prefix + "kepzes_megnevezese_angol",
        c.TITLE_MAX,
        required=False,
    )
    title = {"hu": title_hu} if title_en is None else {"hu": title_hu, "en": title_en}
    issued = c.hu_date(out, row["esemeny_datuma"], prefix + "esemeny_datuma")

    workload = None
    path = prefix + "oraszam"
    if not row["oraszam"]:
        c.add(out, c.MISSING_REQUIRED, path, "notional hours are missing")
    else:
        hours = c.text_number(out, row["oraszam"], path, c.AL_NUMBER_RE, "oraszam")
        if hours is not None and c.positive_workload(out, hours, path, "oraszam"):
            workload = c.workload_from_hours(hours)

    eqf = None
    if row["mkkr_szint"]:
        path = prefix + "mkkr_szint"
        level = c.text_number(out, row["mkkr_szint"], path, c.AL_NUMBER_RE, "mkkr_szint")
        if level is not None:
            eqf = c.level(out, level, path)
    field = c.isced(out, row["iscedf"], prefix + "iscedf", required=False)
    outcomes = _outcomes(out, row, prefix)
    assessments = _codes(out, row, "ertekeles", prefix, AL.assessment, "assessment")
    mode = c.code(
        out,
        row["reszvetel_formaja"],
        prefix + "reszvetel_formaja",
        AL.participation,
        "form of participation",
        required=True,
    )
    quality = _codes(
        out, row, "minosegbiztositas", prefix, AL.quality_assurance, "quality assurance"
    )
    grade = None
    if row["eredmeny_szazalek"]:
        path = prefix + "eredmeny_szazalek"
        percent = c.text_number(
            out, row["eredmeny_szazalek"], path, c.AL_NUMBER_RE, "eredmeny_szazalek"
        )
        if percent is not None:
            grade = c.percent_grade(out, percent, path)
    prerequisites = c.text(
        out, row["elofeltetelek"], prefix + "elofeltetelek", c.LONG_TEXT_MAX, required=False
    )
    supervision = c.code(
        out,
        row["vizsga_felugyelet"],
        prefix + "vizsga_felugyelet",
        AL.supervision,
        "supervision",
        required=False,
    )
    stack_text = c.text(
        out, row["beszamithatosag"], prefix + "beszamithatosag", c.LONG_TEXT_MAX, required=False
    )
    further = c.text(
        out,
        row["tovabbi_informacio"],
        prefix + "tovabbi_informacio",
        c.LONG_TEXT_MAX,
        required=False,
    )
    record = {
        "learnerIdentification": ident,
        "title": title,
        "issuerCountry": [vocab.HUN_COUNTRY],
        "awardingBodies": [body],
        "dateOfIssuing": issued,
        "learningOutcomes": outcomes,
        "notionalWorkload": workload,
        "eqfLevel": eqf,
        "qfEheaCycle": None,
        "fieldOfEducation": field,
        "assessmentTypes": assessments,
        "formOfParticipation": mode,
        "qualityAssurance": quality,
        "prerequisites": prerequisites,
        "supervisionAndIdentityVerification": supervision,
        "gradeAchieved": grade,
        "integrationStackability": (
            None if stack_text is None else {"partOfProgramme": None, "text": stack_text}
        ),
        "furtherInformation": further,
    }
    return record, cred_id


def _outcomes(out: Out, row: Row, prefix: str) -> list[dict[str, Any]]:
    """Learning outcomes aligned item by item with ``esco_uri`` (§6.4)."""
    path = prefix + "tanulasi_eredmenyek"
    texts = _items(out, row["tanulasi_eredmenyek"], path, "learning outcome", required=True)
    for number, statement in enumerate(texts, start=1):
        if statement:
            c.text(out, statement, f"{path}[{number}]", c.OUTCOME_MAX, required=True)
    uris: list[str | None] = [None] * len(texts)
    if row["esco_uri"]:
        esco_path = prefix + "esco_uri"
        items = [c.clean(item) for item in row["esco_uri"].split("|")]
        if len(items) != len(texts):
            c.add(
                out,
                c.ESCO_COUNT_MISMATCH,
                esco_path,
                f"{len(items)} ESCO item(s) for {len(texts)} learning outcome(s)",
            )
        else:
            for number, item in enumerate(items, start=1):
                if item not in _NO_ESCO:
                    uris[number - 1] = c.esco(out, item, f"{esco_path}[{number}]")
    return [{"text": t, "esco": u} for t, u in zip(texts, uris, strict=True)]


def _revocation(
    out: Out, row: Row, prefix: str, provider: str | None
) -> tuple[dict[str, Any], str | None]:
    """The canonical revocation record of a ``VISSZAVONVA`` row."""
    _provider(out, row, prefix, provider, required=False)
    cred_id = c.identifier(
        out,
        row["tanusitvany_szam"],
        prefix + "tanusitvany_szam",
        c.CREDENTIAL_ID_RE,
        "certificate number",
        required=True,
    )
    record = {
        "credentialKey": f"al:{provider}:{cred_id}" if provider and cred_id else None,
        "reason": c.code(
            out,
            row["visszavonas_oka"],
            prefix + "visszavonas_oka",
            AL.revocation_reason,
            "revocation reason",
            required=True,
        ),
        "reasonText": c.text(
            out,
            row["visszavonas_indoklasa"],
            prefix + "visszavonas_indoklasa",
            c.LONG_TEXT_MAX,
            required=False,
        ),
        "revokedOn": c.hu_date(out, row["esemeny_datuma"], prefix + "esemeny_datuma"),
    }
    return record, cred_id


def _enrolment(
    out: Out, row: Row, prefix: str, provider: str | None, learner_id: str | None, status: str
) -> dict[str, Any]:
    """The canonical enrolment record of an enrolment-status row."""
    return {
        "status": status,
        "statusDate": c.hu_date(out, row["esemeny_datuma"], prefix + "esemeny_datuma"),
        "learnerIdentification": _learner(out, row, prefix, learner_id),
        "provider": _provider(out, row, prefix, provider, required=True),
        "programme": {
            "id": c.identifier(
                out,
                row["kepzes_azonosito"],
                prefix + "kepzes_azonosito",
                c.PROGRAMME_ID_RE,
                "programme id",
                required=True,
            ),
            "title": c.text(
                out,
                row["kepzes_megnevezese"],
                prefix + "kepzes_megnevezese",
                c.TITLE_MAX,
                required=True,
            ),
        },
        "withdrawalReason": None,
    }
