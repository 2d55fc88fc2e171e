"""Feed ``al`` (adult learning, FAR-like CSV batches): one event per data row (contract §6).

The file must start with the UTF-8 BOM; records are split by a small RFC 4180 reader
(``;`` separator, ``"`` quoting with ``""`` escapes, CRLF or LF). The header names the
28 columns in any order. File-level failures reject the whole file; every data row is
then an independent event with its own violations.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from functools import partial
from typing import Any, Final

from hub import vocab
from hub.normalise import common as c
from hub.normalise.mappings import AL
from hub.normalise.types import ItemResult, MessageResult, Violation

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


class RowFields(c.TextFields):
    """The cells of one data row by column name, at paths ``row N: column``."""

    separator = ""
    number_pattern = c.AL_NUMBER_RE

    def __init__(self, out: Out, row: Row, prefix: str) -> None:
        super().__init__(out, prefix)
        self.row = row

    def raw(self, name: str) -> str:
        """The cleaned cell of column ``name``."""
        return self.row[name]


def _rejected_row(
    index: int, shown_id: str | None, violation: Violation, key: str | None = None
) -> ItemResult:
    """A row rejected with one violation."""
    return ItemResult(
        event=None, violations=(violation,), row=index, sor_azonosito=shown_id, idempotency_key=key
    )


def _row(index: int, header: list[str], cells: list[str]) -> ItemResult:
    """Check and normalise one data row."""
    if len(cells) != len(header):
        row_id = None
        if "sor_azonosito" in header:
            position = header.index("sor_azonosito")
            if position < len(cells):
                row_id = c.clean(cells[position]) or None
        message = f"row has {len(cells)} cells, the header has {len(header)}"
        return _rejected_row(index, row_id, Violation(c.CSV_COLUMN_COUNT, f"row {index}", message))
    row: Row = {name: c.clean(value) for name, value in zip(header, cells, strict=True)}
    out: Out = []
    fields = RowFields(out, row, f"row {index}: ")
    row_id = fields.identifier("sor_azonosito", c.AL_ROW_ID_RE, "row id", required=True)
    provider = fields.identifier(
        "felnottkepzo_nyilvantartasi_szam", c.FAR_RE, "provider registration number", required=True
    )
    key = c.scoped_key("al", provider, row_id)
    shown_id = row_id or row["sor_azonosito"] or None
    status = row["statusz"]
    event_type = AL.event_type.get(status)
    if event_type is None:
        if status:
            rule, message = c.UNKNOWN_EVENT_TYPE, f"unknown statusz {status!r}"
        else:
            rule, message = c.MISSING_REQUIRED, "statusz is missing"
        return _rejected_row(index, shown_id, Violation(rule, fields.path("statusz"), message), key)

    learner_id = fields.education_id("oktatasi_azonosito")
    if event_type == "issued":
        record, cred_id = _issuance(fields, provider, learner_id)
    elif event_type == "revoked":
        record, cred_id = _revocation(fields, provider)
    else:
        record, cred_id = _enrolment(fields, provider, learner_id, event_type), None
    envelope = c.Envelope(
        "al", event_type, key, row_id, learner_id, provider, row=index, shown_id=shown_id
    )
    return envelope.result(out, record, cred_id, partial(c.canonical_json, row))


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


def _learner(fields: RowFields, learner_id: str | None) -> dict[str, Any]:
    """Canonical learner identification."""
    return fields.learner(learner_id, "csaladi_nev", "utonev", "szuletesi_datum")


def _provider(fields: RowFields, provider: str | None, *, required: bool) -> dict[str, Any]:
    """The provider as a canonical awarding body."""
    name = fields.text("felnottkepzo_neve", c.BODY_NAME_MAX, required=required)
    return c.body(provider, "HU-FAR", name, vocab.HUN_COUNTRY)


def _codes(fields: RowFields, column: str, table: Mapping[str, str], what: str) -> list[str]:
    """A multi-valued code cell mapped to URIs, de-duplicated in order."""
    path = fields.path(column)
    items = _items(fields.out, fields.raw(column), path, what, required=True)
    return c.code_list(fields.out, ((path, item) for item in items if item), table, what)


def _issuance(
    fields: RowFields, provider: str | None, learner_id: str | None
) -> tuple[dict[str, Any], str | None]:
    """The 18 canonical elements of a ``KIALLITVA`` row and the certificate number."""
    ident = _learner(fields, learner_id)
    body = _provider(fields, provider, required=True)
    cred_id = fields.identifier(
        "tanusitvany_szam", c.CREDENTIAL_ID_RE, "certificate number", required=True
    )
    fields.identifier("kepzes_azonosito", c.PROGRAMME_ID_RE, "programme id", required=True)
    cred = c.Credential(ident, [body])
    cred.title = fields.title("kepzes_megnevezese", "kepzes_megnevezese_angol")
    cred.date_of_issuing = fields.date("esemeny_datuma")
    cred.notional_workload = fields.workload(
        "oraszam", "notional hours are missing", c.workload_from_hours
    )
    cred.eqf_level = fields.level("mkkr_szint")
    cred.field_of_education = fields.isced("iscedf", required=False)
    cred.learning_outcomes = _outcomes(fields)
    cred.assessment_types = _codes(fields, "ertekeles", AL.assessment, "assessment")
    cred.form_of_participation = fields.code(
        "reszvetel_formaja", AL.participation, "form of participation", required=True
    )
    cred.quality_assurance = _codes(
        fields, "minosegbiztositas", AL.quality_assurance, "quality assurance"
    )
    percent = fields.number("eredmeny_szazalek")
    if percent is not None:
        cred.grade = c.percent_grade(fields.out, percent, fields.path("eredmeny_szazalek"))
    cred.prerequisites = fields.text("elofeltetelek", c.LONG_TEXT_MAX, required=False)
    cred.supervision = fields.code(
        "vizsga_felugyelet", AL.supervision, "supervision", required=False
    )
    stack_text = fields.text("beszamithatosag", c.LONG_TEXT_MAX, required=False)
    cred.stackability = c.stackability(None, stack_text)
    cred.further_information = fields.text("tovabbi_informacio", c.LONG_TEXT_MAX, required=False)
    return cred.record(), cred_id


def _outcomes(fields: RowFields) -> list[dict[str, Any]]:
    """Learning outcomes aligned item by item with ``esco_uri`` (§6.4)."""
    out = fields.out
    path = fields.path("tanulasi_eredmenyek")
    texts = _items(out, fields.raw("tanulasi_eredmenyek"), path, "learning outcome", required=True)
    for number, statement in enumerate(texts, start=1):
        if statement:
            c.text(out, statement, f"{path}[{number}]", c.OUTCOME_MAX, required=True)
    uris: list[str | None] = [None] * len(texts)
    esco_cell = fields.raw("esco_uri")
    if esco_cell:
        esco_path = fields.path("esco_uri")
        items = [c.clean(item) for item in esco_cell.split("|")]
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


def _revocation(fields: RowFields, provider: str | None) -> tuple[dict[str, Any], str | None]:
    """The canonical revocation record of a ``VISSZAVONVA`` row."""
    _provider(fields, provider, required=False)
    cred_id = fields.identifier(
        "tanusitvany_szam", c.CREDENTIAL_ID_RE, "certificate number", required=True
    )
    reason = fields.code(
        "visszavonas_oka", AL.revocation_reason, "revocation reason", required=True
    )
    reason_text = fields.text("visszavonas_indoklasa", c.LONG_TEXT_MAX, required=False)
    revoked_on = fields.date("esemeny_datuma")
    key = c.scoped_key("al", provider, cred_id)
    return c.revocation(key, reason, reason_text, revoked_on), cred_id


def _enrolment(
    fields: RowFields, provider: str | None, learner_id: str | None, status: str
) -> dict[str, Any]:
    """The canonical enrolment record of an enrolment-status row."""
    status_date = fields.date("esemeny_datuma")
    ident = _learner(fields, learner_id)
    body = _provider(fields, provider, required=True)
    ids = fields.programme("kepzes_azonosito", "kepzes_megnevezese")
    return c.enrolment(status, status_date, ident, body, ids, None)
