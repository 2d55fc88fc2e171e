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
from collections.abc import Mapping
from functools import partial
from typing import Any, Final
from xml.etree.ElementTree import Element, ParseError

import defusedxml
import defusedxml.ElementTree as SafeET

from hub import vocab
from hub.normalise import common as c
from hub.normalise.mappings import VET
from hub.normalise.types import ItemResult, MessageResult, Violation

NAMESPACE: Final = "urn:mchub:feed:vet:1"
_NS: Final = "{" + NAMESPACE + "}"
XML_LANG: Final = "{http://www.w3.org/XML/1998/namespace}lang"

_DECLARATION_RE: Final = re.compile(r"\ufeff?<\?xml([^?>]*)\?>")
_ENCODING_RE: Final = re.compile(r"\sencoding\s*=\s*([\"'])(.*?)\1", re.DOTALL)

Out = list[Violation]


def _reject(rule: str, path: str, message: str) -> MessageResult:
    """A document rejected with one violation."""
    return c.rejected_message("vet", rule, path, message)


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


class XmlFields(c.TextFields):
    """The fields of one element (None: absent, so are all its fields), at path ``base``.

    A field name is a child's local name (its own text; a repeated child is reported),
    ``@name`` for an attribute, or "" for the element's own text.
    """

    separator = "/"
    date_pattern = c.ISO_DATE_RE
    date_shape = "YYYY-MM-DD"

    def __init__(self, out: Out, elem: Element | None, base: str) -> None:
        super().__init__(out, base)
        self.elem = elem

    def raw(self, name: str) -> str | None:
        """A child's text, an attribute or the element's own text; None when absent."""
        if name.startswith("@"):
            return None if self.elem is None else _attr(self.elem, name[1:])
        if not name:
            return None if self.elem is None else _own_text(self.elem)
        return _leaf(self.out, self.elem, name, self.path(name))

    def child(self, name: str) -> XmlFields:
        """The fields of the single child ``name`` (a repeated one is reported)."""
        path = self.path(name)
        return XmlFields(self.out, _one(self.out, self.elem, name, path), path)

    def children(self, name: str) -> list[Element]:
        """All children ``name``, in order."""
        return _children(self.elem, name)


def _content(root: Element) -> str | Violation:
    """The canonical content of a document, or why it has none."""
    try:
        return c.canonical_json(canonical_tree(root))
    except RecursionError:
        return Violation(c.MALFORMED, c.PAYLOAD_PATH, "XML is nested too deeply")


def _event(root: Element, event_type: str) -> ItemResult:
    """Field and cross-field checks of one document in the feed namespace."""
    out: Out = []
    top = XmlFields(out, root, "")
    header = top.child("Fejlec")
    event_id = header.identifier("EsemenyAzonosito", c.VET_EVENT_ID_RE, "event id", required=True)
    occurred = header.timestamp("EsemenyIdopont")
    school = top.child("Intezmeny")
    om = school.identifier("OMAzonosito", c.OM_RE, "OM identifier", required=True)
    school_name = school.text("Nev", c.BODY_NAME_MAX, required=event_type != "revoked")
    learner = top.child("Tanulo")
    learner_id = learner.education_id("OktatasiAzonosito")

    cred_id: str | None = None
    record: dict[str, Any]
    if event_type == "revoked":
        record, cred_id = _revocation(top, om)
    else:
        ident = learner.learner(learner_id, "CsaladiNev", "Utonev", "SzuletesiDatum")
        provider = c.body(om, "HU-OM", school_name, vocab.HUN_COUNTRY)
        if event_type == "issued":
            record, cred_id = _issuance(top, ident, provider, occurred)
        else:
            record = _enrolment(top, ident, provider, event_type)
    key = c.scoped_key("vet", om, event_id)
    envelope = c.Envelope("vet", event_type, key, event_id, learner_id, om, occurred)
    return envelope.result(out, record, cred_id, partial(_content, root))


def _titles(cert: XmlFields) -> dict[str, str | None]:
    """``title`` from ``Megnevezes[@xml:lang]``: exactly one ``hu``, at most one ``en``."""
    out = cert.out
    found: dict[str, str] = {}
    for index, elem in enumerate(cert.children("Megnevezes"), start=1):
        path = f"{cert.path('Megnevezes')}[{index}]"
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
        c.add(out, c.MISSING_REQUIRED, cert.path("Megnevezes"), "no title with xml:lang='hu'")
    title: dict[str, str | None] = {"hu": found.get("hu") or None}
    if found.get("en"):
        title["en"] = found["en"]
    return title


def _codes(parent: XmlFields, name: str, table: Mapping[str, str], what: str) -> list[str]:
    """Repeated code elements mapped to URIs, de-duplicated in order (at least one)."""
    path = parent.path(name)
    elems = parent.children(name)
    if not elems:
        c.add(parent.out, c.MISSING_REQUIRED, path, f"at least one {what} code is required")
        return []
    items = ((f"{path}[{index}]", _own_text(elem)) for index, elem in enumerate(elems, start=1))
    return c.code_list(parent.out, items, table, what)


def _issuance(
    top: XmlFields, ident: dict[str, Any], provider: dict[str, Any], occurred: str | None
) -> tuple[dict[str, Any], str | None]:
    """The 18 canonical elements of a ``TanusitvanyKiallitas`` and the certificate id."""
    out = top.out
    bodies = [provider]
    council = top.child("AgazatiKeszsegtanacs")
    if council.elem is not None and (council.raw("@Kod") or council.raw("")):
        kod = council.identifier("@Kod", c.AKT_RE, "sector skills council code", required=True)
        name = council.text("", c.BODY_NAME_MAX, required=True)
        bodies.append(c.body(kod, "HU-AKT", name, vocab.HUN_COUNTRY))

    cert = top.child("Tanusitvany")
    if cert.elem is None and not top.children("Tanusitvany"):
        c.add(out, c.MISSING_REQUIRED, "Tanusitvany", "the <Tanusitvany> element is missing")
    cred_id = cert.identifier("Azonosito", c.CREDENTIAL_ID_RE, "certificate id", required=True)
    cred = c.Credential(ident, bodies)
    cred.title = _titles(cert) if cert.elem is not None else {"hu": None}
    cred.notional_workload = cert.workload(
        "Oraszam", "notional hours are missing", c.workload_from_hours
    )
    cred.eqf_level = cert.level("MKKRSzint", missing="MKKR level is missing")
    cred.field_of_education = cert.isced("ISCEDF", required=True)
    cred.learning_outcomes = _outcomes(cert)
    cred.assessment_types = _codes(cert.child("Ertekeles"), "Modszer", VET.assessment, "assessment")
    cred.form_of_participation = cert.code(
        "KepzesiForma", VET.participation, "form of training", required=True
    )
    cred.quality_assurance = _codes(
        cert, "Minosegbiztositas", VET.quality_assurance, "quality assurance"
    )
    cred.grade = _grade(cert.child("Eredmeny"))
    cred.prerequisites = cert.text("Elofeltetelek", c.LONG_TEXT_MAX, required=False)
    cred.supervision = cert.code("Felugyelet", VET.supervision, "supervision", required=False)
    stack = cert.child("Beszamithatosag")
    cred.stackability = None if stack.elem is None else stack.stackability("@Kepzes", "")
    cred.further_information = cert.text("TovabbiInformacio", c.LONG_TEXT_MAX, required=False)
    cred.date_of_issuing = cert.issue_date("KiallitasDatuma", occurred)
    return cred.record(), cred_id


def _outcomes(cert: XmlFields) -> list[dict[str, Any]]:
    """``Tanulasieredmenyek/Tanulasieredmeny`` in document order (at least one)."""
    container = cert.child("Tanulasieredmenyek")
    path = container.path("Tanulasieredmeny")
    items = container.children("Tanulasieredmeny")
    if not items:
        c.add(cert.out, c.MISSING_REQUIRED, path, "at least one learning outcome is required")
    outcomes: list[dict[str, Any]] = []
    for index, elem in enumerate(items, start=1):
        item = XmlFields(cert.out, elem, f"{path}[{index}]")
        statement = item.text("", c.OUTCOME_MAX, required=True)
        outcomes.append({"text": statement, "esco": item.esco("@Esco")})
    return outcomes


def _grade(result: XmlFields) -> dict[str, object] | None:
    """``Eredmeny`` with ``Skala`` OTFOKU (1-5, 1 fails) or SZAZALEK (0-100)."""
    value = result.raw("")
    if not value:
        return None
    scale = result.code("@Skala", VET.grade_scale, "grade scale", required=True)
    number = result.parse_number(value, result.base, "Eredmeny")
    if number is None or scale is None:
        return None
    if scale == "PERCENT":
        return c.percent_grade(result.out, number, result.base)
    return c.passing_five_grade(result.out, number, result.base)


def _revocation(top: XmlFields, om: str | None) -> tuple[dict[str, Any], str | None]:
    """The canonical revocation record of a ``TanusitvanyVisszavonas``."""
    rev = top.child("Visszavonas")
    cred_id = rev.identifier(
        "TanusitvanyAzonosito", c.CREDENTIAL_ID_RE, "certificate id", required=True
    )
    record = c.revocation(
        c.scoped_key("vet", om, cred_id),
        rev.code("Ok", VET.revocation_reason, "revocation reason", required=True),
        rev.text("Indoklas", c.LONG_TEXT_MAX, required=False),
        rev.date("VisszavonasDatuma"),
    )
    return record, cred_id


def _enrolment(
    top: XmlFields, ident: dict[str, Any], provider: dict[str, Any], status: str
) -> dict[str, Any]:
    """The canonical enrolment record of ``Beiratkozas`` / ``Kimaradas`` / ``Befejezes``."""
    programme = top.child("Kepzes")
    ids = programme.programme("Azonosito", "Megnevezes")
    status_date = top.date("Datum")
    reason = top.text("Ok", c.LONG_TEXT_MAX, required=False) if status == "withdrawn" else None
    return c.enrolment(status, status_date, ident, provider, ids, reason)
