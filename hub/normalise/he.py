"""Feed ``he`` (higher education, FIR-like JSON): one event per message (contract §4).

The JSON is parsed with every number as an exact :class:`~decimal.Decimal`; while it is
parsed, strings are trimmed and NFC-normalised, ``null`` members are dropped (null counts
as absent) and duplicate member names are refused. The cleaned tree is both what the
field checks read and, serialised canonically, the event's ``content`` (§9.2).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from decimal import Decimal
from functools import partial
from typing import Any, Final
from unicodedata import normalize as _nfc

from hub import vocab
from hub.normalise import common as c
from hub.normalise.mappings import HE
from hub.normalise.types import ItemResult, MessageResult, Violation


class _DuplicateMember(ValueError):
    """A JSON object names the same member twice."""


def _clean_list(items: list[Any]) -> list[Any]:
    """Clean the strings (and nested lists) of a JSON array; objects are already clean."""
    cleaned: list[Any] = []
    for item in items:
        kind = type(item)
        if kind is str:
            item = item.strip()
            if not item.isascii():
                item = _nfc("NFC", item)
        elif kind is list:
            item = _clean_list(item)
        cleaned.append(item)
    return cleaned


def _object_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Build one JSON object: trim+NFC strings, drop nulls, refuse duplicate names."""
    obj: dict[str, Any] = {}
    has_null = False
    for key, value in pairs:
        if not key.isascii():
            key = _nfc("NFC", key)
        kind = type(value)
        if kind is str:
            value = value.strip()
            if not value.isascii():
                value = _nfc("NFC", value)
        elif kind is list:
            value = _clean_list(value)
        elif value is None:
            has_null = True
        obj[key] = value
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            key = _nfc("NFC", key)
            if key in seen:
                raise _DuplicateMember(f"member {key!r} appears more than once")
            seen.add(key)
    if has_null:
        return {key: value for key, value in obj.items() if value is not None}
    return obj


def _no_constants(name: str) -> Any:
    """Refuse ``NaN``/``Infinity``: not JSON."""
    raise ValueError(f"{name} is not valid JSON")


_DECODER: Final = json.JSONDecoder(
    object_pairs_hook=_object_hook,
    parse_float=Decimal,
    parse_int=Decimal,
    parse_constant=_no_constants,
)


def parse(text: str) -> Any:
    """Parse and clean JSON (raises ValueError/RecursionError when it does not parse).

    Strings come out trimmed and NFC, numbers as Decimal, null members dropped. A lone
    surrogate (only possible through a ``\\u`` escape) is refused: it is not Unicode text.
    """
    doc = _DECODER.decode(text)
    if "\\u" in text and _has_surrogate(doc):
        raise ValueError("a string holds a lone surrogate escape")
    return doc


def _has_surrogate(value: Any) -> bool:
    """True when any string or member name in a parsed tree holds a lone surrogate."""
    if isinstance(value, str):
        return c.has_surrogate(value)
    if isinstance(value, list):
        return any(_has_surrogate(item) for item in value)
    if isinstance(value, dict):
        return any(c.has_surrogate(k) or _has_surrogate(v) for k, v in value.items())
    return False


def _reject(rule: str, path: str, message: str) -> MessageResult:
    """A message that fails before field checks."""
    return c.rejected_message("he", rule, path, message)


def normalise_he(payload: bytes) -> MessageResult:
    """Normalise one ``he`` message (never raises on any input bytes)."""
    if len(payload) > c.MAX_BYTES["he"]:
        return _reject(
            c.PAYLOAD_TOO_LARGE, c.PAYLOAD_PATH, f"{len(payload)} bytes exceed 1 MiB (1048576)"
        )
    try:
        source = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        return _reject(c.ENCODING, c.PAYLOAD_PATH, f"not UTF-8: {exc.reason} at byte {exc.start}")
    if source.startswith("\ufeff"):
        source = source[1:]
    try:
        doc = parse(source)
    except RecursionError:
        return _reject(c.MALFORMED, c.PAYLOAD_PATH, "JSON is nested too deeply")
    except ValueError as exc:
        return _reject(c.MALFORMED, c.PAYLOAD_PATH, f"not valid JSON: {exc}")
    if not isinstance(doc, dict):
        return _reject(c.MALFORMED, c.PAYLOAD_PATH, "the message must be one JSON object")
    return MessageResult(feed="he", items=(_event(doc),))


Out = list[Violation]


class JsonFields(c.Fields[Any]):
    """The members of one JSON object at path ``base`` (paths joined with ".")."""

    separator = "."
    empty_is_absent = False

    def __init__(self, out: Out, obj: dict[str, Any], base: str) -> None:
        super().__init__(out, base)
        self.obj = obj

    def raw(self, name: str) -> Any:
        """The member's value (None when absent: null members are dropped when parsed)."""
        return self.obj.get(name)

    def parse_number(self, value: Any, path: str, what: str) -> Decimal | None:
        """A JSON number (booleans and strings are the wrong type)."""
        if not isinstance(value, Decimal):
            kind = "boolean" if isinstance(value, bool) else type(value).__name__
            c.add(self.out, c.INVALID_FORMAT, path, f"{what} must be a JSON number, got {kind}")
            return None
        return value

    def object(self, name: str, *, required: bool) -> JsonFields | None:
        """The fields of a nested object member (absent/wrong type reported; None then)."""
        path = self.path(name)
        value = self.obj.get(name)
        if value is None:
            if required:
                c.add(self.out, c.MISSING_REQUIRED, path, f"required object {name!r} is missing")
            return None
        if not isinstance(value, dict):
            c.add(self.out, c.INVALID_FORMAT, path, f"{name!r} must be a JSON object")
            return None
        return JsonFields(self.out, value, path)

    def array(self, name: str, *, required: bool) -> list[Any] | None:
        """An array member; an empty required array counts as missing."""
        path = self.path(name)
        value = self.obj.get(name)
        if value is None or (required and value == []):
            if required:
                missing = f"required list {name!r} is missing or empty"
                c.add(self.out, c.MISSING_REQUIRED, path, missing)
            return None
        if not isinstance(value, list):
            c.add(self.out, c.INVALID_FORMAT, path, f"{name!r} must be a JSON array")
            return None
        return value


def _content(doc: dict[str, Any]) -> str | Violation:
    """The canonical content of a message, or why it has none."""
    try:
        return c.canonical_json(doc)
    except (RecursionError, ValueError) as exc:
        return Violation(c.MALFORMED, c.PAYLOAD_PATH, f"cannot canonicalise: {exc}")


def _event(doc: dict[str, Any]) -> ItemResult:
    """Envelope, field and cross-field checks of one parsed event."""
    raw_id = doc.get("esemeny_azonosito")
    early_key = (
        f"he:{raw_id}"
        if isinstance(raw_id, str) and c.HE_EVENT_ID_RE.fullmatch(raw_id) is not None
        else None
    )
    version = doc.get("sema_verzio")
    if version is None or version == "":
        return c.rejected_item(
            c.MISSING_REQUIRED, "sema_verzio", "schema version is missing", early_key
        )
    if version != "1.0":
        bad = [
            Violation(
                c.UNSUPPORTED_VERSION, "sema_verzio", f"schema version {version!r} is not '1.0'"
            )
        ]
        if not isinstance(version, str):
            bad.append(
                Violation(c.INVALID_FORMAT, "sema_verzio", "schema version must be a string")
            )
        return ItemResult(event=None, violations=tuple(bad), idempotency_key=early_key)
    kind = doc.get("esemeny_tipus")
    if kind is None or kind == "":
        return c.rejected_item(
            c.MISSING_REQUIRED, "esemeny_tipus", "event type is missing", early_key
        )
    event_type = HE.event_type.get(kind) if isinstance(kind, str) else None
    if event_type is None:
        bad = [Violation(c.UNKNOWN_EVENT_TYPE, "esemeny_tipus", f"unknown event type {kind!r}")]
        if not isinstance(kind, str):
            bad.append(Violation(c.INVALID_FORMAT, "esemeny_tipus", "event type must be a string"))
        return ItemResult(event=None, violations=tuple(bad), idempotency_key=early_key)

    out: Out = []
    top = JsonFields(out, doc, "")
    event_id = top.identifier(
        "esemeny_azonosito", c.HE_EVENT_ID_RE, "event id (lowercase UUID)", required=True
    )
    occurred = top.timestamp("esemeny_idopont")
    inst = top.object("intezmeny", required=True)
    learner = top.object("hallgato", required=True)
    inst_code = inst_name = learner_id = None
    if inst is not None:
        inst_code = inst.identifier(
            "kod", c.HE_INSTITUTION_RE, "FIR institution code", required=True
        )
        inst_name = inst.text("nev", c.BODY_NAME_MAX, required=event_type != "revoked")
    if learner is not None:
        learner_id = learner.education_id("oktatasi_azonosito")

    record: dict[str, Any] | None
    cred_id: str | None = None
    if event_type == "revoked":
        record, cred_id = _revocation(top, inst_code)
    else:
        ident = _learner(learner)
        provider = c.body(inst_code, "HU-FI", inst_name, vocab.HUN_COUNTRY)
        if event_type == "issued":
            record, cred_id = _issuance(top, ident, provider, occurred)
        else:
            record = _enrolment(top, ident, provider, event_type)
    key = f"he:{event_id}" if event_id else None
    envelope = c.Envelope("he", event_type, key, event_id, learner_id, inst_code, occurred)
    return envelope.result(out, record, cred_id, partial(_content, doc))


def _learner(learner: JsonFields | None) -> dict[str, Any] | None:
    """The canonical learner identification (all four members required)."""
    if learner is None:
        return None
    learner_id = learner.raw("oktatasi_azonosito")
    return learner.learner(learner_id, "csaladi_nev", "utonev", "szuletesi_datum")


def _present(out: Out, items: list[Any], path: str, what: str) -> Iterator[tuple[str, Any]]:
    """``(path, item)`` of the non-empty list items; an empty one is reported when reached."""
    for index, item in enumerate(items):
        item_path = f"{path}[{index}]"
        if item == "" or item is None:
            c.add(out, c.INVALID_FORMAT, item_path, f"empty {what} code in the list")
            continue
        yield item_path, item


def _codes(cert: JsonFields, name: str, table: Mapping[str, str], what: str) -> list[str]:
    """A required list of codes mapped to URIs, de-duplicated in order of first appearance."""
    items = cert.array(name, required=True)
    if items is None:
        return []
    return c.code_list(cert.out, _present(cert.out, items, cert.path(name), what), table, what)


def _issuance(
    top: JsonFields,
    ident: dict[str, Any] | None,
    provider: dict[str, Any],
    occurred: str | None,
) -> tuple[dict[str, Any] | None, str | None]:
    """The 18 canonical elements of an issuance, and the credential id."""
    out = top.out
    bodies = [provider]
    partners = top.array("tarsintezmenyek", required=False)
    for index, partner in enumerate(partners or ()):
        bodies.append(_partner(out, partner, f"{top.path('tarsintezmenyek')}[{index}]"))

    cert = top.object("oklevel", required=True)
    if cert is None:
        return None, None
    cred_id = cert.identifier("azonosito", c.CREDENTIAL_ID_RE, "credential id", required=True)
    countries = c.dedupe(b["country"] for b in bodies if b["country"])
    cred = c.Credential(ident, bodies, issuer_country=countries)
    cred.title = cert.title("megnevezes", "megnevezes_angol")
    cred.notional_workload = cert.workload("kredit", "credits are missing", c.workload_from_credits)
    cred.eqf_level = cert.level("mkkr_szint", missing="MKKR level is missing")
    cred.qf_ehea_cycle = cert.code("ciklus", HE.cycle, "cycle", required=False)
    if cred.qf_ehea_cycle is not None and cred.eqf_level is not None:
        c.cycle_fits(out, cred.qf_ehea_cycle, cred.eqf_level, cert.path("ciklus"))
    cred.field_of_education = cert.isced("iscedf", required=True)
    cred.learning_outcomes = _outcomes(cert)
    cred.assessment_types = _codes(cert, "ertekeles_modja", HE.assessment, "assessment")
    cred.form_of_participation = cert.code(
        "reszvetel_formaja", HE.participation, "form of participation", required=True
    )
    cred.quality_assurance = _codes(
        cert, "minosegbiztositas", HE.quality_assurance, "quality assurance"
    )
    cred.grade = cert.five_grade("erdemjegy")
    cred.prerequisites = cert.text("elofeltetelek", c.LONG_TEXT_MAX, required=False)
    cred.supervision = cert.code("felugyelet", HE.supervision, "supervision", required=False)
    stack = cert.object("halmozhatosag", required=False)
    cred.stackability = None if stack is None else stack.stackability("kepzes_kod", "leiras")
    cred.further_information = cert.text("tovabbi_informacio", c.LONG_TEXT_MAX, required=False)
    cred.date_of_issuing = cert.issue_date("kiallitas_datuma", occurred)
    return cred.record(), cred_id


def _partner(out: Out, partner: object, path: str) -> dict[str, Any]:
    """One co-awarding institution (HUN: FIR code required; foreign: free-text code)."""
    if not isinstance(partner, dict):
        c.add(out, c.INVALID_FORMAT, path, "co-awarding institution must be a JSON object")
        return c.body(None, "OTHER", None, "")
    fields = JsonFields(out, partner, path)
    name = fields.text("nev", c.BODY_NAME_MAX, required=True)
    country = fields.raw("orszag")
    if country is None or country == "":
        country = "HUN"
    elif not isinstance(country, str) or c.COUNTRY_RE.fullmatch(country) is None:
        c.add(out, c.INVALID_FORMAT, fields.path("orszag"), f"{country!r} is not an alpha-3 code")
        country = None
    uri = vocab.country_uri(country) if country else ""
    if country == "HUN":
        kod = fields.identifier("kod", c.HE_INSTITUTION_RE, "FIR institution code", required=True)
        return c.body(kod, "HU-FI", name, uri)
    kod = fields.text("kod", c.FOREIGN_CODE_MAX, required=False)
    return c.body(kod, "OTHER", name, uri)


def _outcomes(cert: JsonFields) -> list[dict[str, Any]]:
    """Learning outcomes in source order."""
    path = cert.path("tanulasi_eredmenyek")
    outcomes: list[dict[str, Any]] = []
    for index, item in enumerate(cert.array("tanulasi_eredmenyek", required=True) or ()):
        item_path = f"{path}[{index}]"
        if not isinstance(item, dict):
            c.add(cert.out, c.INVALID_FORMAT, item_path, "learning outcome must be a JSON object")
            continue
        fields = JsonFields(cert.out, item, item_path)
        statement = fields.text("szoveg", c.OUTCOME_MAX, required=True)
        outcomes.append({"text": statement, "esco": fields.esco("esco")})
    return outcomes


def _revocation(top: JsonFields, inst_code: str | None) -> tuple[dict[str, Any] | None, str | None]:
    """The canonical revocation record and the revoked credential id."""
    rev = top.object("visszavonas", required=True)
    if rev is None:
        return None, None
    cred_id = rev.identifier(
        "oklevel_azonosito", c.CREDENTIAL_ID_RE, "credential id", required=True
    )
    reason = rev.code("ok_kod", HE.revocation_reason, "revocation reason", required=True)
    reason_text = rev.text("indoklas", c.LONG_TEXT_MAX, required=False)
    revoked_at = rev.timestamp("visszavonas_idopontja")
    revoked_on = revoked_at[:10] if revoked_at else None
    key = c.scoped_key("he", inst_code, cred_id)
    return c.revocation(key, reason, reason_text, revoked_on), cred_id


def _enrolment(
    top: JsonFields, ident: dict[str, Any] | None, provider: dict[str, Any], status: str
) -> dict[str, Any]:
    """The canonical enrolment record (enrolled / withdrawn / completed)."""
    programme = top.object("kepzes", required=True)
    ids = (None, None) if programme is None else programme.programme("kod", "megnevezes")
    status_date = top.date("datum")
    reason = None
    if status == "withdrawn":
        reason = top.text("kimaradas_oka", c.LONG_TEXT_MAX, required=False)
    return c.enrolment(status, status_date, ident, provider, ids, reason)
