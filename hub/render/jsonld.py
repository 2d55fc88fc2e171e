"""JSON-LD context handling from local files only (no network, ever).

The official contexts live in ``shared/reference/`` (see its README). A
:class:`LocalContextLoader` maps each known context URL to its file and refuses every
other URL, so a document that names an unknown context fails loudly instead of being
fetched. The helpers below (expansion, RDF conversion, SHACL and dropped-term checks)
import ``pyld``/``rdflib``/``pyshacl`` lazily: they are validation tools, not needed to
render or sign.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Final

from hub.errors import UnknownContextError
from hub.settings import default_shared_dir

VC_V1_CONTEXT: Final = "https://www.w3.org/2018/credentials/v1"
VC_V2_CONTEXT: Final = "https://www.w3.org/ns/credentials/v2"
EDC_AP_CONTEXT: Final = "http://data.europa.eu/snb/model/context/edc-ap"
OB3_CONTEXT: Final = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"

#: context URL -> file path relative to ``shared/reference``
CONTEXT_FILES: Final[dict[str, str]] = {
    VC_V1_CONTEXT: "w3c/credentials-v1.jsonld",
    VC_V2_CONTEXT: "w3c/credentials-v2.jsonld",
    EDC_AP_CONTEXT: "elm/edc-ap-context.jsonld",
    OB3_CONTEXT: "ob3/context-3.0.3.json",
}

EDC_SHAPES_FILE: Final = "elm/EDC-generic-no-cv.ttl"
#: VC 2.0's optional ``@vocab`` for undefined terms (not in the published v2 context file,
#: but some documents declare it)
ISSUER_DEPENDENT_VOCAB: Final = "https://www.w3.org/ns/credentials/issuer-dependent#"
#: base IRI given to expansion so that undefined, relative IRIs stand out
UNDEFINED_BASE: Final = "https://undefined-term.invalid/"




def default_reference_dir() -> Path:
    """``shared/reference`` beside the checkout (see :func:`hub.settings.default_shared_dir`)."""
    return default_shared_dir() / "reference"


@dataclass
class LocalContextLoader:
    """A pyld document loader that serves known contexts from local files only."""

    reference_dir: Path = field(default_factory=default_reference_dir)
    files: Mapping[str, str] = field(default_factory=lambda: dict(CONTEXT_FILES))
    requested: list[str] = field(default_factory=list)

    def document(self, url: str) -> Any:
        """The parsed JSON of the context at ``url``; :class:`UnknownContextError` otherwise."""
        self.requested.append(url)
        rel = self.files.get(url)
        if rel is None:
            raise UnknownContextError(f"no local copy of JSON-LD context {url!r}; not fetching")
        return _load_json(str(self.reference_dir / rel))

    def __call__(self, url: str, options: Any = None) -> dict[str, Any]:
        """pyld's loader protocol: ``{contextUrl, documentUrl, document}``."""
        return {"contextUrl": None, "documentUrl": url, "document": self.document(url)}


@cache
def _load_json(path: str) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


@contextmanager
def _unwrapped() -> Iterator[None]:
    """Re-raise an :class:`UnknownContextError` that pyld wrapped in its own error."""
    try:
        yield
    except Exception as exc:
        cause: BaseException | None = exc
        while cause is not None:
            if isinstance(cause, UnknownContextError):
                raise cause from None
            cause = cause.__cause__ or cause.__context__
        raise


def expand(doc: Mapping[str, Any], loader: LocalContextLoader | None = None) -> list[Any]:
    """JSON-LD expansion of ``doc`` with local contexts only."""
    from pyld import jsonld

    # a sentinel base IRI makes an undefined (relative) type value recognisable
    with _unwrapped():
        result: list[Any] = jsonld.expand(
            dict(doc), {"documentLoader": loader or LocalContextLoader(), "base": UNDEFINED_BASE}
        )
    return result


def to_nquads(doc: Mapping[str, Any], loader: LocalContextLoader | None = None) -> str:
    """``doc`` as N-Quads (JSON-LD to RDF with local contexts only)."""
    from pyld import jsonld

    with _unwrapped():
        nquads: str = jsonld.to_rdf(
            dict(doc),
            {"format": "application/n-quads", "documentLoader": loader or LocalContextLoader()},
        )
    return nquads


def to_graph(doc: Mapping[str, Any], loader: LocalContextLoader | None = None) -> Any:
    """``doc`` as an ``rdflib.Graph``."""
    import rdflib

    # a credential has only the default graph, so its N-Quads are N-Triples
    return rdflib.Graph().parse(data=to_nquads(doc, loader), format="nt")


@cache
def _shapes_graph(path: str) -> Any:
    import rdflib

    return rdflib.Graph().parse(path, format="turtle")


@dataclass(frozen=True)
class ShaclReport:
    """Outcome of a SHACL run: whether it conforms, the triple count and pyshacl's text."""

    conforms: bool
    triples: int
    text: str


def validate_edc(
    doc: Mapping[str, Any], reference_dir: Path | None = None, shapes: str = EDC_SHAPES_FILE
) -> ShaclReport:
    """Check an (unsealed) EDC credential against the EDC SHACL shapes, no inference."""
    import pyshacl

    ref = reference_dir or default_reference_dir()
    graph = to_graph(doc, LocalContextLoader(ref))
    conforms, _, text = pyshacl.validate(
        graph, shacl_graph=_shapes_graph(str(ref / shapes)), inference="none"
    )
    return ShaclReport(bool(conforms), len(graph), str(text))


def compact_terms(doc: Any) -> Iterator[tuple[str, str]]:
    """Every property key of a compact document with its JSON path (``@`` keywords and
    the contents of ``@context`` excluded)."""

    def walk(node: Any, path: str) -> Iterator[tuple[str, str]]:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "@context":
                    continue
                here = f"{path}.{key}"
                if not key.startswith("@"):
                    yield key, here
                yield from walk(value, here)
        elif isinstance(node, list):
            for i, item in enumerate(node):
                yield from walk(item, f"{path}[{i}]")

    yield from walk(doc, "$")


def undefined_terms(doc: Mapping[str, Any], loader: LocalContextLoader | None = None) -> list[str]:
    """Keys and types of a compact document that its contexts do not define.

    Two ways a term goes undefined: expansion silently drops a key that has no
    definition (the published VC 1.1, VC 2.0, EDC and OB3 contexts have no ``@vocab``),
    or, where a document declares VC 2.0's ``issuer-dependent#`` ``@vocab``, a key or type
    falls back to it. Drops are found by expanding and compacting back with the same
    contexts and comparing the multiset of key paths (array indices ignored); fallbacks
    and undefined (relative) types by scanning the expanded IRIs. Returns human-readable
    problems; empty means every term is defined.
    """
    from pyld import jsonld

    ld = loader or LocalContextLoader()
    expanded = expand(doc, ld)
    problems = [
        f"{iri} (undefined: @vocab fallback or relative IRI)" for iri in _vocab_fallbacks(expanded)
    ]
    compacted = jsonld.compact(expanded, {"@context": doc.get("@context")}, {"documentLoader": ld})
    before = Counter(path for _, path in _key_paths(doc))
    # a value that does not fit its term's coercion compacts to a compact IRI
    # (``cred:credentialStatus``): that is a rename, not a drop
    after = Counter(_iri_local(path) for _, path in _key_paths(compacted))
    for path, count in before.items():
        if after[path] < count:
            problems.append(f"{path} (dropped by expansion)")
    return problems


def _key_paths(doc: Any) -> Iterator[tuple[str, str]]:
    """Property keys with index-free paths (``id``/``type`` aliases and keywords skipped)."""
    for key, path in compact_terms(doc):
        if key in ("id", "type"):
            continue
        yield key, re.sub(r"\[\d+\]", "", path)


def _iri_local(path: str) -> str:
    """``$.a.cred:b`` -> ``$.a.b``: reduce compact-IRI keys to their local name."""
    return ".".join(
        re.split(r"[:#/]", part)[-1] if ":" in part else part for part in path.split(".")
    )


def _vocab_fallbacks(node: Any) -> Iterator[str]:
    if isinstance(node, list):
        for item in node:
            yield from _vocab_fallbacks(item)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key.startswith(ISSUER_DEPENDENT_VOCAB):
                yield key
            if key == "@type":
                types = value if isinstance(value, list) else [value]
                # an undefined type either falls back to @vocab or stays a relative IRI
                yield from (
                    str(t)
                    for t in types
                    if str(t).startswith((ISSUER_DEPENDENT_VOCAB, UNDEFINED_BASE))
                )
            yield from _vocab_fallbacks(value)
