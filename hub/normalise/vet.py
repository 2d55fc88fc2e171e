"""Feed ``vet`` (VET, KRÉTA-like XML): one event per document (contract §5).

Parsing is safe by construction: the document must be UTF-8 (an XML declaration naming
any other encoding is refused before parsing), and it is parsed by :mod:`defusedxml` with
``forbid_dtd=True``, so any ``<!DOCTYPE`` (and so any entity declaration) aborts the parse
at its first byte, before an entity could be declared, resolved or expanded.
Elements are matched by namespace + local name, so any prefix (or the default namespace)
works; child order is free, repeated elements keep their relative order.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as _FastET
from typing import Any, Final
from xml.etree.ElementTree import Element, ParseError

import defusedxml
import defusedxml.ElementTree as SafeET

from hub import vocab
from hub.normalise import common as c
from hub.normalise.mappings import MAPPING_VERSION, VET
from hub.normalise.types import ItemResult, MessageResult, NormalisedEvent, Violation

NAMESPACE: Final = "urn:mchub:feed:vet:1"
_NS: Final = "{" + NAMESPACE + "}"
XML_LANG: Final = "{http://www.w3.org/XML/1998/namespace}lang"

_DECLARATION_RE: Final = re.compile(r"\ufeff?<\?xml([^?>]*)\?>")
_ENCODING_RE: Final = re.compile(r"\sencoding\s*=\s*([\"'])(.*?)\1", re.DOTALL)
_RECORD_TYPES: Final = {
    "issued": "credential",
    "revoked": "revocation",
    "enrolled": "enrolment",
    "withdrawn": "enrolment",
    "completed": "enrolment",
}

Out = list[Violation]


def _reject(rule: str, path: str, message: str, key: str | None = None) -> MessageResult:
    """A document rejected with one violation."""
    item = ItemResult(event=None, violations=(Violation(rule, path, message),), idempotency_key=key)
    return MessageResult(feed="vet", items=(item,))


def parse(payload: bytes) -> Element | Violation:
    """Encoding check and safe parse: the root element, or the violation that stops it."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Violation(c.ENCODING, c.PAYLOAD_PATH, f"not UTF-8: {exc.reason} at byte {exc.start}")
    declaration = _DECLARATION_RE.match(text)
    if declaration is not None:
        encoding = _ENCODING_RE.search(declaration.group(1))
        if encoding is not None and encoding.group(2).strip().lower() != "utf-8":
            return Violation(
                c.ENCODING,
                c.PAYLOAD_PATH,
                f"the XML declaration names encoding {encoding.group(2)!r}; only UTF-8 is accepted",
            )
    stray_entity = False
    try:
        if b"<!DOCTYPE" in payload or b"<!ENTITY" in payload:
            # a DTD may be present: defusedxml aborts at the doctype's first byte
            stray_entity = b"<!ENTITY" in payload
            root = SafeET.fromstring(payload, forbid_dtd=True, forbid_entities=True)
        else:
            # without a literal "<!DOCTYPE" (the bytes are UTF-8, XML is case-sensitive)
            # there is no DTD, so no entity can be declared, expanded or fetched: the
            # C-accelerated parser is safe here and much faster
            root = _FastET.fromstring(payload)
    except (defusedxml.DTDForbidden, defusedxml.EntitiesForbidden) as exc:
        return Violation(c.XML_DOCTYPE, c.PAYLOAD_PATH, f"DTDs are not allowed ({exc})")
    except defusedxml.ExternalReferenceForbidden as exc:
        return Violation(
            c.XML_DOCTYPE, c.PAYLOAD_PATH, f"external references are not allowed ({exc})"
        )
    except (ParseError, defusedxml.NotSupportedError, ValueError) as exc:
        if stray_entity:
            return Violation(c.XML_DOCTYPE, c.PAYLOAD_PATH, "entity declarations are not allowed")
        return Violation(c.MALFORMED, c.PAYLOAD_PATH, f"XML is not well-formed: {exc}")
    except RecursionError:
        return Violation(c.MALFORMED, c.PAYLOAD_PATH, "XML is nested too deeply")
    if not isinstance(root, Element):  # pragma: no cover - fromstring always gives an Element
        return Violation(c.MALFORMED, c.PAYLOAD_PATH, "no root element")
    return root


def normalise_vet(payload: bytes) -> MessageResult:
    """Normalise one ``vet`` document (never raises on any input bytes)."""
    if len(payload) > c.MAX_BYTES["vet"]:
        return _reject(
            c.PAYLOAD_TOO_LARGE, c.PAYLOAD_PATH, f"{len(payload)} bytes exceed 1 MiB (1048576)"
        )
    root = parse(payload)
    if isinstance(root, Violation):
        return _reject(root.rule, root.path, root.message)
    tag = root.tag
    if not tag.startswith(_NS):
        return _reject(
            c.XML_NAMESPACE, tag.rpartition("}")[2], f"root element {tag!r} is not in {NAMESPACE}"
        )
    local = tag[len(_NS) :]
    event_type = VET.event_type.get(local)
    if event_type is None:
        return _reject(c.UNKNOWN_EVENT_TYPE, local, f"unknown root element {local!r}")
    return MessageResult(feed="vet", items=(_event(root, event_type),))


# --- navigation --------------------------------------------------------------------------


def _children(parent: Element | None, name: str) -> list[Element]:
    """Children of ``parent`` with the feed-namespace local name ``name``, in order."""
    if parent is None:
        return []
    tag = _NS + name
    return [child for child in parent if child.tag == tag]


def _one(out: Out, parent: Element | None, name: str, path: str) -> Element | None:
    """The single child ``name``; a repeated one is INVALID_FORMAT."""
    found = _children(parent, name)
    if len(found) > 1:
        c.add(out, c.INVALID_FORMAT, path, f"<{name}> must occur at most once, found {len(found)}")
        return None
    return found[0] if found else None


def _own_text(elem: Element) -> str:
    """The element's own text (not its descendants'), trimmed and NFC."""
    raw = elem.text or ""
    for child in elem:
        if child.tail:
            raw += child.tail
    return c.clean(raw)


def _leaf(out: Out, parent: Element | None, name: str, path: str) -> str | None:
    """The trimmed text of the single child ``name``, or None when it is absent."""
    elem = _one(out, parent, name, path)
    return None if elem is None else _own_text(elem)


def _attr(elem: Element, name: str) -> str | None:
    """A trimmed, NFC attribute value, or None when absent or empty."""
    value = elem.get(name)
    if value is None:
        return None
    return c.clean(value) or None


# --- canonical content ---------------------------------------------------------------


def _tag(elem: Element) -> str:
    """Sort key of an element: its namespace + local name."""
    return str(elem.tag)


def canonical_tree(elem: Element) -> dict[str, Any]:
    """Namespace+local name, attributes, trimmed text and children (stably sorted by name)."""
    children = list(elem)
    if len(children) > 1:
        children.sort(key=_tag)
    return {
        "n": elem.tag,
        "a": {name: c.clean(value) for name, value in elem.attrib.items()} if elem.attrib else {},
        "t": _own_text(elem) if children else c.clean(elem.text or ""),
        "c": [canonical_tree(child) for child in children],
    }


# --- events --------------------------------------------------------------------------


def _event(root: Element, event_type: str) -> ItemResult:
    """Field and cross-field checks of one document in the feed namespace."""
    out: Out = []
    header = _one(out, root, "Fejlec", "Fejlec")
    event_id = c.identifier(
        out,
        _leaf(out, header, "EsemenyAzonosito", "Fejlec/EsemenyAzonosito"),
        "Fejlec/EsemenyAzonosito",
        c.VET_EVENT_ID_RE,
        "event id",
        required=True,
    )
    occurred = c.timestamp(
        out, _leaf(out, header, "EsemenyIdopont", "Fejlec/EsemenyIdopont"), "Fejlec/EsemenyIdopont"
    )
    school = _one(out, root, "Intezmeny", "Intezmeny")
    om = c.identifier(
        out,
        _leaf(out, school, "OMAzonosito", "Intezmeny/OMAzonosito"),
        "Intezmeny/OMAzonosito",
        c.OM_RE,
        "OM identifier",
        required=True,
    )
    school_name = c.text(
        out,
        _leaf(out, school, "Nev", "Intezmeny/Nev"),
        "Intezmeny/Nev",
        c.BODY_NAME_MAX,
        required=event_type != "revoked",
    )
    learner = _one(out, root, "Tanulo", "Tanulo")
    learner_id = c.education_id(
        out,
        _leaf(out, learner, "OktatasiAzonosito", "Tanulo/OktatasiAzonosito"),
        "Tanulo/OktatasiAzonosito",
    )

    credential_key: str | None = None
    record: dict[str, Any]
    if event_type == "issued":
        ident = _learner(out, learner, learner_id)
        record, cred_id = _issuance(out, root, ident, om, school_name, occurred)
        if om and cred_id:
            credential_key = f"vet:{om}:{cred_id}"
    elif event_type == "revoked":
        record, cred_id = _revocation(out, root, om)
        if om and cred_id:
            credential_key = f"vet:{om}:{cred_id}"
    else:
        ident = _learner(out, learner, learner_id)
        record = _enrolment(out, root, ident, om, school_name, event_type)

    key = f"vet:{om}:{event_id}" if om and event_id else None
    if out or event_id is None or om is None or learner_id is None:
        return ItemResult(event=None, violations=tuple(out), idempotency_key=key)
    try:
        content = c.canonical_json(canonical_tree(root))
    except RecursionError:
        return ItemResult(
            event=None,
            violations=(Violation(c.MALFORMED, c.PAYLOAD_PATH, "XML is nested too deeply"),),
            idempotency_key=key,
        )
    event = NormalisedEvent(
        feed="vet",
        record_type=_RECORD_TYPES[event_type],  # type: ignore[arg-type]
        event_type=event_type,
        idempotency_key=f"vet:{om}:{event_id}",
        credential_key=credential_key,
        source_event_id=event_id,
        learner_id=learner_id,
        awarding_body_id=om,
        occurred_at=occurred,
        record=record,
        content=content,
        mapping_version=MAPPING_VERSION,
    )
    return ItemResult(event=event, idempotency_key=event.idempotency_key)


def _learner(out: Out, learner: Element | None, learner_id: str | None) -> dict[str, Any]:
    """Canonical learner identification (names and birth date required)."""
    family = c.text(
        out,
        _leaf(out, learner, "CsaladiNev", "Tanulo/CsaladiNev"),
        "Tanulo/CsaladiNev",
        c.PERSON_NAME_MAX,
        required=True,
    )
    given = c.text(
        out,
        _leaf(out, learner, "Utonev", "Tanulo/Utonev"),
        "Tanulo/Utonev",
        c.PERSON_NAME_MAX,
        required=True,
    )
    born = c.iso_date(
        out, _leaf(out, learner, "SzuletesiDatum", "Tanulo/SzuletesiDatum"), "Tanulo/SzuletesiDatum"
    )
    return {
        "educationId": learner_id,
        "familyName": family,
        "givenName": given,
        "dateOfBirth": born,
    }


def _titles(out: Out, cert: Element | None) -> dict[str, str | None]:
    """``title`` from ``Megnevezes[@xml:lang]``: exactly one ``hu``, at most one ``en``."""
    found: dict[str, str] = {}
    for index, elem in enumerate(_children(cert, "Megnevezes"), start=1):
        path = f"Tanusitvany/Megnevezes[{index}]"
        lang = (elem.get(XML_LANG) or "").strip().lower()
        if not lang:
            c.add(out, c.INVALID_FORMAT, path, "title without xml:lang")
            continue
        if lang not in ("hu", "en"):
            continue
        if lang in found:
            c.add(out, c.INVALID_FORMAT, path, f"second title in language {lang!r}")
            continue
        value = c.text(out, _own_text(elem), path, c.TITLE_MAX, required=lang == "hu")
        found[lang] = value or ""
    if "hu" not in found:
        c.add(out, c.MISSING_REQUIRED, "Tanusitvany/Megnevezes", "no title with xml:lang='hu'")
    title: dict[str, str | None] = {"hu": found.get("hu") or None}
    if found.get("en"):
        title["en"] = found["en"]
    return title


def _codes(out: Out, elems: list[Element], path: str, table: Any, what: str) -> list[str]:
    """Repeated code elements mapped to URIs, de-duplicated in order (at least one)."""
    if not elems:
        c.add(out, c.MISSING_REQUIRED, path, f"at least one {what} code is required")
        return []
    mapped: list[str] = []
    for index, elem in enumerate(elems, start=1):
        uri = c.code(out, _own_text(elem), f"{path}[{index}]", table, what, required=True)
        if uri is not None:
            mapped.append(uri)
    return c.dedupe(mapped)


def _issuance(
    out: Out,
    root: Element,
    ident: dict[str, Any],
    om: str | None,
    school_name: str | None,
    occurred: str | None,
) -> tuple[dict[str, Any], str | None]:
    """The 18 canonical elements of a ``TanusitvanyKiallitas`` and the certificate id."""
    bodies = [c.body(om, "HU-OM", school_name, vocab.HUN_COUNTRY)]
    council = _one(out, root, "AgazatiKeszsegtanacs", "AgazatiKeszsegtanacs")
    if council is not None and (_attr(council, "Kod") or _own_text(council)):
        kod = c.identifier(
            out,
            _attr(council, "Kod"),
            "AgazatiKeszsegtanacs/@Kod",
            c.AKT_RE,
            "sector skills council code",
            required=True,
        )
        name = c.text(
            out, _own_text(council), "AgazatiKeszsegtanacs", c.BODY_NAME_MAX, required=True
        )
        bodies.append(c.body(kod, "HU-AKT", name, vocab.HUN_COUNTRY))

    cert = _one(out, root, "Tanusitvany", "Tanusitvany")
    if cert is None and not _children(root, "Tanusitvany"):
        c.add(out, c.MISSING_REQUIRED, "Tanusitvany", "the <Tanusitvany> element is missing")
    p = "Tanusitvany/"
    cred_id = c.identifier(
        out,
        _leaf(out, cert, "Azonosito", p + "Azonosito"),
        p + "Azonosito",
        c.CREDENTIAL_ID_RE,
        "certificate id",
        required=True,
    )
    title = _titles(out, cert) if cert is not None else {"hu": None}

    workload = None
    hours_text = _leaf(out, cert, "Oraszam", p + "Oraszam")
    if not hours_text:
        c.add(out, c.MISSING_REQUIRED, p + "Oraszam", "notional hours are missing")
    else:
        hours = c.text_number(out, hours_text, p + "Oraszam", c.TEXT_INTEGER_RE, "Oraszam")
        if hours is not None and c.positive_workload(out, hours, p + "Oraszam", "Oraszam"):
            workload = c.workload_from_hours(hours)

    eqf = None
    level_text = _leaf(out, cert, "MKKRSzint", p + "MKKRSzint")
    if not level_text:
        c.add(out, c.MISSING_REQUIRED, p + "MKKRSzint", "MKKR level is missing")
    else:
        number = c.text_number(out, level_text, p + "MKKRSzint", c.TEXT_INTEGER_RE, "MKKRSzint")
        if number is not None:
            eqf = c.level(out, number, p + "MKKRSzint")

    field = c.isced(out, _leaf(out, cert, "ISCEDF", p + "ISCEDF"), p + "ISCEDF", required=True)
    outcomes = _outcomes(out, cert)
    rating = _one(out, cert, "Ertekeles", p + "Ertekeles")
    assessments = _codes(
        out, _children(rating, "Modszer"), p + "Ertekeles/Modszer", VET.assessment, "assessment"
    )
    mode = c.code(
        out,
        _leaf(out, cert, "KepzesiForma", p + "KepzesiForma"),
        p + "KepzesiForma",
        VET.participation,
        "form of training",
        required=True,
    )
    quality = _codes(
        out,
        _children(cert, "Minosegbiztositas"),
        p + "Minosegbiztositas",
        VET.quality_assurance,
        "quality assurance",
    )
    grade = _grade(out, _one(out, cert, "Eredmeny", p + "Eredmeny"))
    prerequisites = c.text(
        out,
        _leaf(out, cert, "Elofeltetelek", p + "Elofeltetelek"),
        p + "Elofeltetelek",
        c.LONG_TEXT_MAX,
        required=False,
    )
    supervision = c.code(
        out,
        _leaf(out, cert, "Felugyelet", p + "Felugyelet"),
        p + "Felugyelet",
        VET.supervision,
        "supervision",
        required=False,
    )
    stackability = None
    stack = _one(out, cert, "Beszamithatosag", p + "Beszamithatosag")
    if stack is not None:
        part_of = c.identifier(
            out,
            _attr(stack, "Kepzes"),
            p + "Beszamithatosag/@Kepzes",
            c.PROGRAMME_ID_RE,
            "programme id",
            required=False,
        )
        stack_text = c.text(
            out, _own_text(stack), p + "Beszamithatosag", c.LONG_TEXT_MAX, required=False
        )
        if part_of is not None or stack_text is not None:
            stackability = {"partOfProgramme": part_of, "text": stack_text}
    further = c.text(
        out,
        _leaf(out, cert, "TovabbiInformacio", p + "TovabbiInformacio"),
        p + "TovabbiInformacio",
        c.LONG_TEXT_MAX,
        required=False,
    )
    issued = c.iso_date(
        out, _leaf(out, cert, "KiallitasDatuma", p + "KiallitasDatuma"), p + "KiallitasDatuma"
    )
    if issued is not None and occurred is not None:
        c.issue_not_after_event(out, issued, occurred, p + "KiallitasDatuma")

    record = {
        "learnerIdentification": ident,
        "title": title,
        "issuerCountry": [vocab.HUN_COUNTRY],
        "awardingBodies": bodies,
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
        "integrationStackability": stackability,
        "furtherInformation": further,
    }
    return record, cred_id


def _outcomes(out: Out, cert: Element | None) -> list[dict[str, Any]]:
    """``Tanulasieredmenyek/Tanulasieredmeny`` in document order (at least one)."""
    path = "Tanusitvany/Tanulasieredmenyek/Tanulasieredmeny"
    container = _one(out, cert, "Tanulasieredmenyek", "Tanusitvany/Tanulasieredmenyek")
    items = _children(container, "Tanulasieredmeny")
    if not items:
        c.add(out, c.MISSING_REQUIRED, path, "at least one learning outcome is required")
    outcomes: list[dict[str, Any]] = []
    for index, elem in enumerate(items, start=1):
        item_path = f"{path}[{index}]"
        statement = c.text(out, _own_text(elem), item_path, c.OUTCOME_MAX, required=True)
        uri = c.esco(out, _attr(elem, "Esco"), f"{item_path}/@Esco")
        outcomes.append({"text": statement, "esco": uri})
    return outcomes


def _grade(out: Out, elem: Element | None) -> dict[str, object] | None:
    """``Eredmeny`` with ``Skala`` OTFOKU (1-5, 1 fails) or SZAZALEK (0-100)."""
    if elem is None:
        return None
    value = _own_text(elem)
    if not value:
        return None
    path = "Tanusitvany/Eredmeny"
    scale = c.code(
        out, _attr(elem, "Skala"), path + "/@Skala", VET.grade_scale, "grade scale", required=True
    )
    number = c.text_number(out, value, path, c.TEXT_INTEGER_RE, "Eredmeny")
    if number is None or scale is None:
        return None
    if scale == "PERCENT":
        return c.percent_grade(out, number, path)
    grade = c.five_grade(out, number, path)
    if grade is not None and grade["value"] == 1:
        c.add(out, c.GRADE_FAIL, path, "grade 1 (fail) on an issuance")
    return grade


def _revocation(out: Out, root: Element, om: str | None) -> tuple[dict[str, Any], str | None]:
    """The canonical revocation record of a ``TanusitvanyVisszavonas``."""
    rev = _one(out, root, "Visszavonas", "Visszavonas")
    p = "Visszavonas/"
    cred_id = c.identifier(
        out,
        _leaf(out, rev, "TanusitvanyAzonosito", p + "TanusitvanyAzonosito"),
        p + "TanusitvanyAzonosito",
        c.CREDENTIAL_ID_RE,
        "certificate id",
        required=True,
    )
    reason = c.code(
        out,
        _leaf(out, rev, "Ok", p + "Ok"),
        p + "Ok",
        VET.revocation_reason,
        "revocation reason",
        required=True,
    )
    reason_text = c.text(
        out,
        _leaf(out, rev, "Indoklas", p + "Indoklas"),
        p + "Indoklas",
        c.LONG_TEXT_MAX,
        required=False,
    )
    revoked_on = c.iso_date(
        out, _leaf(out, rev, "VisszavonasDatuma", p + "VisszavonasDatuma"), p + "VisszavonasDatuma"
    )
    record = {
        "credentialKey": f"vet:{om}:{cred_id}" if om and cred_id else None,
        "reason": reason,
        "reasonText": reason_text,
        "revokedOn": revoked_on,
    }
    return record, cred_id


def _enrolment(
    out: Out,
    root: Element,
    ident: dict[str, Any],
    om: str | None,
    school_name: str | None,
    status: str,
) -> dict[str, Any]:
    """The canonical enrolment record of ``Beiratkozas`` / ``Kimaradas`` / ``Befejezes``."""
    programme = _one(out, root, "Kepzes", "Kepzes")
    prog_id = c.identifier(
        out,
        _leaf(out, programme, "Azonosito", "Kepzes/Azonosito"),
        "Kepzes/Azonosito",
        c.PROGRAMME_ID_RE,
        "programme id",
        required=True,
    )
    prog_title = c.text(
        out,
        _leaf(out, programme, "Megnevezes", "Kepzes/Megnevezes"),
        "Kepzes/Megnevezes",
        c.TITLE_MAX,
        required=True,
    )
    status_date = c.iso_date(out, _leaf(out, root, "Datum", "Datum"), "Datum")
    reason = None
    if status == "withdrawn":
        reason = c.text(out, _leaf(out, root, "Ok", "Ok"), "Ok", c.LONG_TEXT_MAX, required=False)
    return {
        "status": status,
        "statusDate": status_date,
        "learnerIdentification": ident,
        "provider": c.body(om, "HU-OM", school_name, vocab.HUN_COUNTRY),
        "programme": {"id": prog_id, "title": prog_title},
        "withdrawalReason": reason,
    }
