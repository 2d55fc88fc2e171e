"""Feed ``he`` (higher education, FIR-like JSON): one event per message (contract §4).

The JSON is parsed with every number as an exact :class:`~decimal.Decimal`; while it is
parsed, strings are trimmed and NFC-normalised, ``null`` members are dropped (null counts
as absent) and duplicate member names are refused. The cleaned tree is both what the
field checks read and, serialised canonically, the event's ``content`` (§9.2).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, Final
from unicodedata import normalize as _nfc

from hub import vocab
from hub.normalise import common as c
from hub.normalise.mappings import HE, MAPPING_VERSION
from hub.normalise.types import ItemResult, MessageResult, NormalisedEvent, Violation

_RECORD_TYPES: Final = {
    "issued": "credential",
    "revoked": "revocation",
    "enrolled": "enrolment",
    "withdrawn": "enrolment",
    "completed": "enrolment",
}


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


def _reject(rule: str, path: str, message: str, key: str | None = None) -> MessageResult:
    """A message that fails before field checks."""
    item = ItemResult(event=None, violations=(Violation(rule, path, message),), idempotency_key=key)
    return MessageResult(feed="he", items=(item,))


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
        return _item_reject(
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
        return _item_reject(c.MISSING_REQUIRED, "esemeny_tipus", "event type is missing", early_key)
    event_type = HE.event_type.get(kind) if isinstance(kind, str) else None
    if event_type is None:
        bad = [Violation(c.UNKNOWN_EVENT_TYPE, "esemeny_tipus", f"unknown event type {kind!r}")]
        if not isinstance(kind, str):
            bad.append(Violation(c.INVALID_FORMAT, "esemeny_tipus", "event type must be a string"))
        return ItemResult(event=None, violations=tuple(bad), idempotency_key=early_key)

    out: list[Violation] = []
    event_id = c.identifier(
        out,
        doc.get("esemeny_azonosito"),
        "esemeny_azonosito",
        c.HE_EVENT_ID_RE,
        "event id (lowercase UUID)",
        required=True,
    )
    occurred = c.timestamp(out, doc.get("esemeny_idopont"), "esemeny_idopont")
    inst = _object(out, doc, "intezmeny", "intezmeny", required=True)
    learner = _object(out, doc, "hallgato", "hallgato", required=True)
    inst_code = inst_name = learner_id = None
    if inst is not None:
        inst_code = c.identifier(
            out,
            inst.get("kod"),
            "intezmeny.kod",
            c.HE_INSTITUTION_RE,
            "FIR institution code",
            required=True,
        )
        inst_name = c.text(
            out,
            inst.get("nev"),
            "intezmeny.nev",
            c.BODY_NAME_MAX,
            required=event_type != "revoked",
        )
    if learner is not None:
        learner_id = c.education_id(
            out, learner.get("oktatasi_azonosito"), "hallgato.oktatasi_azonosito"
        )

    record: dict[str, Any] | None
    credential_key: str | None = None
    if event_type == "issued":
        record, cred_id = _issuance(out, doc, learner, inst_code, inst_name, occurred)
        if inst_code and cred_id:
            credential_key = f"he:{inst_code}:{cred_id}"
    elif event_type == "revoked":
        record, cred_id = _revocation(out, doc, inst_code)
        if inst_code and cred_id:
            credential_key = f"he:{inst_code}:{cred_id}"
    else:
        record = _enrolment(out, doc, learner, inst_code, inst_name, event_type)

    key = f"he:{event_id}" if event_id else None
    if out or record is None or event_id is None or learner_id is None or inst_code is None:
        return ItemResult(event=None, violations=tuple(out), idempotency_key=key)
    try:
        content = c.canonical_json(doc)
    except (RecursionError, ValueError) as exc:
        return _item_reject(c.MALFORMED, c.PAYLOAD_PATH, f"cannot canonicalise: {exc}", key)
    event = NormalisedEvent(
        feed="he",
        record_type=_RECORD_TYPES[event_type],  # type: ignore[arg-type]
        event_type=event_type,
        idempotency_key=f"he:{event_id}",
        credential_key=credential_key,
        source_event_id=event_id,
        learner_id=learner_id,
        awarding_body_id=inst_code,
        occurred_at=occurred,
        record=record,
        content=content,
        mapping_version=MAPPING_VERSION,
    )
    return ItemResult(event=event, idempotency_key=event.idempotency_key)


def _item_reject(rule: str, path: str, message: str, key: str | None = None) -> ItemResult:
    """An item with a single violation."""
    return ItemResult(event=None, violations=(Violation(rule, path, message),), idempotency_key=key)


def _object(
    out: list[Violation], parent: dict[str, Any], name: str, path: str, *, required: bool
) -> dict[str, Any] | None:
    """A nested JSON object member (absent/wrong type reported; None then)."""
    value = parent.get(name)
    if value is None:
        if required:
            c.add(out, c.MISSING_REQUIRED, path, f"required object {name!r} is missing")
        return None
    if not isinstance(value, dict):
        c.add(out, c.INVALID_FORMAT, path, f"{name!r} must be a JSON object")
        return None
    return value


def _array(
    out: list[Violation], parent: dict[str, Any], name: str, path: str, *, required: bool
) -> list[Any] | None:
    """An array member; an empty required array counts as missing."""
    value = parent.get(name)
    if value is None or (required and value == []):
        if required:
            c.add(out, c.MISSING_REQUIRED, path, f"required list {name!r} is missing or empty")
        return None
    if not isinstance(value, list):
        c.add(out, c.INVALID_FORMAT, path, f"{name!r} must be a JSON array")
        return None
    return value


def _number(out: list[Violation], value: object, path: str, what: str) -> Decimal | None:
    """A JSON number (booleans and strings are the wrong type)."""
    if not isinstance(value, Decimal):
        kind = "boolean" if isinstance(value, bool) else type(value).__name__
        c.add(out, c.INVALID_FORMAT, path, f"{what} must be a JSON number, got {kind}")
        return None
    return value


def _learner(out: list[Violation], learner: dict[str, Any] | None, learner_id: object) -> Any:
    """The canonical learner identification (all four members required)."""
    if learner is None:
        return None
    family = c.text(
        out, learner.get("csaladi_nev"), "hallgato.csaladi_nev", c.PERSON_NAME_MAX, required=True
    )
    given = c.text(out, learner.get("utonev"), "hallgato.utonev", c.PERSON_NAME_MAX, required=True)
    born = c.hu_date(out, learner.get("szuletesi_datum"), "hallgato.szuletesi_datum")
    return {
        "educationId": learner_id,
        "familyName": family,
        "givenName": given,
        "dateOfBirth": born,
    }


def _codes(
    out: list[Violation],
    items: list[Any] | None,
    path: str,
    table: Any,
    what: str,
) -> list[str]:
    """A list of codes mapped to URIs, de-duplicated in order of first appearance."""
    if items is None:
        return []
    mapped: list[str] = []
    for index, item in enumerate(items):
        item_path = f"{path}[{index}]"
        if item == "" or item is None:
            c.add(out, c.INVALID_FORMAT, item_path, f"empty {what} code in the list")
            continue
        uri = c.code(out, item, item_path, table, what, required=True)
        if uri is not None:
            mapped.append(uri)
    return c.dedupe(mapped)


def _issuance(
    out: list[Violation],
    doc: dict[str, Any],
    learner: dict[str, Any] | None,
    inst_code: str | None,
    inst_name: str | None,
    occurred: str | None,
) -> tuple[dict[str, Any] | None, str | None]:
    """The 18 canonical elements of an issuance, and the credential id."""
    learner_id = learner.get("oktatasi_azonosito") if learner is not None else None
    ident = _learner(out, learner, learner_id)

    bodies = [c.body(inst_code, "HU-FI", inst_name, vocab.HUN_COUNTRY)]
    partners = _array(out, doc, "tarsintezmenyek", "tarsintezmenyek", required=False)
    for index, partner in enumerate(partners or ()):
        bodies.append(_partner(out, partner, f"tarsintezmenyek[{index}]"))

    cert = _object(out, doc, "oklevel", "oklevel", required=True)
    if cert is None:
        return None, None
    cred_id = c.identifier(
        out,
        cert.get("azonosito"),
        "oklevel.azonosito",
        c.CREDENTIAL_ID_RE,
        "credential id",
        required=True,
    )
    title_hu = c.text(out, cert.get("megnevezes"), "oklevel.megnevezes", c.TITLE_MAX, required=True)
    title_en = c.text(
        out, cert.get("megnevezes_angol"), "oklevel.megnevezes_angol", c.TITLE_MAX, required=False
    )
    title = {"hu": title_hu} if title_en is None else {"hu": title_hu, "en": title_en}

    workload = None
    raw = cert.get("kredit")
    if raw is None:
        c.add(out, c.MISSING_REQUIRED, "oklevel.kredit", "credits are missing")
    else:
        credits = _number(out, raw, "oklevel.kredit", "kredit")
        if credits is not None and c.positive_workload(out, credits, "oklevel.kredit", "kredit"):
            workload = c.workload_from_credits(credits)

    eqf = None
    raw = cert.get("mkkr_szint")
    if raw is None:
        c.add(out, c.MISSING_REQUIRED, "oklevel.mkkr_szint", "MKKR level is missing")
    else:
        number = _number(out, raw, "oklevel.mkkr_szint", "mkkr_szint")
        if number is not None:
            eqf = c.level(out, number, "oklevel.mkkr_szint")
    cycle = c.code(out, cert.get("ciklus"), "oklevel.ciklus", HE.cycle, "cycle", required=False)
    if cycle is not None and eqf is not None:
        c.cycle_fits(out, cycle, eqf, "oklevel.ciklus")

    field = c.isced(out, cert.get("iscedf"), "oklevel.iscedf", required=True)
    outcomes = _outcomes(out, cert)
    assessments = _codes(
        out,
        _array(out, cert, "ertekeles_modja", "oklevel.ertekeles_modja", required=True),
        "oklevel.ertekeles_modja",
        HE.assessment,
        "assessment",
    )
    mode = c.code(
        out,
        cert.get("reszvetel_formaja"),
        "oklevel.reszvetel_formaja",
        HE.participation,
        "form of participation",
        required=True,
    )
    quality = _codes(
        out,
        _array(out, cert, "minosegbiztositas", "oklevel.minosegbiztositas", required=True),
        "oklevel.minosegbiztositas",
        HE.quality_assurance,
        "quality assurance",
    )

    grade = None
    raw = cert.get("erdemjegy")
    if raw is not None:
        number = _number(out, raw, "oklevel.erdemjegy", "erdemjegy")
        if number is not None:
            grade = c.five_grade(out, number, "oklevel.erdemjegy")
            if grade is not None and grade["value"] == 1:
                c.add(out, c.GRADE_FAIL, "oklevel.erdemjegy", "grade 1 (fail) on an issuance")

    prerequisites = c.text(
        out, cert.get("elofeltetelek"), "oklevel.elofeltetelek", c.LONG_TEXT_MAX, required=False
    )
    supervision = c.code(
        out,
        cert.get("felugyelet"),
        "oklevel.felugyelet",
        HE.supervision,
        "supervision",
        required=False,
    )
    stackability = None
    stack = _object(out, cert, "halmozhatosag", "oklevel.halmozhatosag", required=False)
    if stack is not None:
        part_of = c.identifier(
            out,
            stack.get("kepzes_kod"),
            "oklevel.halmozhatosag.kepzes_kod",
            c.PROGRAMME_ID_RE,
            "programme id",
            required=False,
        )
        stack_text = c.text(
            out,
            stack.get("leiras"),
            "oklevel.halmozhatosag.leiras",
            c.LONG_TEXT_MAX,
            required=False,
        )
        if part_of is not None or stack_text is not None:
            stackability = {"partOfProgramme": part_of, "text": stack_text}
    further = c.text(
        out,
        cert.get("tovabbi_informacio"),
        "oklevel.tovabbi_informacio",
        c.LONG_TEXT_MAX,
        required=False,
    )
    issued = c.hu_date(out, cert.get("kiallitas_datuma"), "oklevel.kiallitas_datuma")
    if issued is not None and occurred is not None:
        c.issue_not_after_event(out, issued, occurred, "oklevel.kiallitas_datuma")

    record = {
        "learnerIdentification": ident,
        "title": title,
        "issuerCountry": c.dedupe(b["country"] for b in bodies if b["country"]),
        "awardingBodies": bodies,
        "dateOfIssuing": issued,
        "learningOutcomes": outcomes,
        "notionalWorkload": workload,
        "eqfLevel": eqf,
        "qfEheaCycle": cycle,
        "fieldOfEducation": field,
        "assessmentTypes": assessments,
        "formOfParticipation": mode,
        "qualityAssurance": quality,
        "prerequisites": prerequisites,
        "supervisionAndIdentityVerification": supervision,
        "gradeAchieved": grade,
        "integrationStackability": stackability,
        "furtherInformation": further,
    }
    return record, cred_id


def _partner(out: list[Violation], partner: object, path: str) -> dict[str, Any]:
    """One co-awarding institution (HUN: FIR code required; foreign: free-text code)."""
    if not isinstance(partner, dict):
        c.add(out, c.INVALID_FORMAT, path, "co-awarding institution must be a JSON object")
        return c.body(None, "OTHER", None, "")
    name = c.text(out, partner.get("nev"), f"{path}.nev", c.BODY_NAME_MAX, required=True)
    country = partner.get("orszag")
    if country is None or country == "":
        country = "HUN"
    elif not isinstance(country, str) or c.COUNTRY_RE.fullmatch(country) is None:
        c.add(out, c.INVALID_FORMAT, f"{path}.orszag", f"{country!r} is not an alpha-3 code")
        country = None
    uri = vocab.country_uri(country) if country else ""
    if country == "HUN":
        kod = c.identifier(
            out,
            partner.get("kod"),
            f"{path}.kod",
            c.HE_INSTITUTION_RE,
            "FIR institution code",
            required=True,
        )
        return c.body(kod, "HU-FI", name, uri)
    kod = c.text(out, partner.get("kod"), f"{path}.kod", c.FOREIGN_CODE_MAX, required=False)
    return c.body(kod, "OTHER", name, uri)


def _outcomes(out: list[Violation], cert: dict[str, Any]) -> list[dict[str, Any]]:
    """Learning outcomes in source order."""
    path = "oklevel.tanulasi_eredmenyek"
    items = _array(out, cert, "tanulasi_eredmenyek", path, required=True)
    outcomes: list[dict[str, Any]] = []
    for index, item in enumerate(items or ()):
        item_path = f"{path}[{index}]"
        if not isinstance(item, dict):
            c.add(out, c.INVALID_FORMAT, item_path, "learning outcome must be a JSON object")
            continue
        statement = c.text(
            out, item.get("szoveg"), f"{item_path}.szoveg", c.OUTCOME_MAX, required=True
        )
        outcomes.append(
            {"text": statement, "esco": c.esco(out, item.get("esco"), f"{item_path}.esco")}
        )
    return outcomes


def _revocation(
    out: list[Violation], doc: dict[str, Any], inst_code: str | None
) -> tuple[dict[str, Any] | None, str | None]:
    """The canonical revocation record and the revoked credential id."""
    rev = _object(out, doc, "visszavonas", "visszavonas", required=True)
    if rev is None:
        return None, None
    cred_id = c.identifier(
        out,
        rev.get("oklevel_azonosito"),
        "visszavonas.oklevel_azonosito",
        c.CREDENTIAL_ID_RE,
        "credential id",
        required=True,
    )
    reason = c.code(
        out,
        rev.get("ok_kod"),
        "visszavonas.ok_kod",
        HE.revocation_reason,
        "revocation reason",
        required=True,
    )
    reason_text = c.text(
        out, rev.get("indoklas"), "visszavonas.indoklas", c.LONG_TEXT_MAX, required=False
    )
    revoked_at = c.timestamp(
        out, rev.get("visszavonas_idopontja"), "visszavonas.visszavonas_idopontja"
    )
    record = {
        "credentialKey": f"he:{inst_code}:{cred_id}" if inst_code and cred_id else None,
        "reason": reason,
        "reasonText": reason_text,
        "revokedOn": revoked_at[:10] if revoked_at else None,
    }
    return record, cred_id


def _enrolment(
    out: list[Violation],
    doc: dict[str, Any],
    learner: dict[str, Any] | None,
    inst_code: str | None,
    inst_name: str | None,
    status: str,
) -> dict[str, Any] | None:
    """The canonical enrolment record (enrolled / withdrawn / completed)."""
    learner_id = learner.get("oktatasi_azonosito") if learner is not None else None
    ident = _learner(out, learner, learner_id)
    programme = _object(out, doc, "kepzes", "kepzes", required=True)
    prog_id = prog_title = None
    if programme is not None:
        prog_id = c.identifier(
            out,
            programme.get("kod"),
            "kepzes.kod",
            c.PROGRAMME_ID_RE,
            "programme id",
            required=True,
        )
        prog_title = c.text(
            out, programme.get("megnevezes"), "kepzes.megnevezes", c.TITLE_MAX, required=True
        )
    status_date = c.hu_date(out, doc.get("datum"), "datum")
    reason = None
    if status == "withdrawn":
        reason = c.text(
            out, doc.get("kimaradas_oka"), "kimaradas_oka", c.LONG_TEXT_MAX, required=False
        )
    return {
        "status": status,
        "statusDate": status_date,
        "learnerIdentification": ident,
        "provider": c.body(inst_code, "HU-FI", inst_name, vocab.HUN_COUNTRY),
        "programme": {"id": prog_id, "title": prog_title},
        "withdrawalReason": reason,
    }
