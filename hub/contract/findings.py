"""Validation findings and the mapping of structural (pydantic) errors to rule ids."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import ValidationError

from hub.errors import InputRejected

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Finding:
    """One broken rule: stable rule id, JSON path (``credential.learningOutcomes[1].esco``),
    human message and severity (``error`` rejects the record, ``warning`` travels with it)."""

    rule: str
    path: str
    message: str
    severity: Severity = "error"

    def as_dict(self) -> dict[str, str]:
        """JSON form: ``{"rule", "path", "message", "severity"}``."""
        return {"rule": self.rule, "path": self.path, "message": self.message,
                "severity": self.severity}


def errors_of(findings: Iterable[Finding]) -> list[Finding]:
    """Only the findings that reject."""
    return [f for f in findings if f.severity == "error"]


class ContractViolation(InputRejected):
    """A record that cannot be represented in the canonical contract (carries all findings)."""

    def __init__(self, findings: Sequence[Finding]) -> None:
        first = findings[0] if findings else Finding("INVALID_FORMAT", "$", "invalid record")
        super().__init__(first.rule, first.path, first.message)
        self.findings: list[Finding] = list(findings)


def join_path(prefix: str, loc: Iterable[int | str]) -> str:
    """A JSON path from a prefix and location parts: ints become ``[i]``, strings ``.name``."""
    path = prefix
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path = f"{path}.{part}" if path else str(part)
    return path or "$"


#: pydantic error types that mean "a required value is absent"
_MISSING = {"missing"}
#: pydantic error types that mean "not one of the code list"
_UNKNOWN_CODE = {"literal_error", "enum"}


def findings_from_validation_error(exc: ValidationError, prefix: str = "") -> list[Finding]:
    """Translate pydantic errors into findings with feed-contract rule ids.

    ``missing`` (or ``null`` where a value is required) -> ``MISSING_REQUIRED``; a value
    outside a code list -> ``UNKNOWN_CODE``; our own typed errors keep their rule id
    (``INVALID_DATE``); anything else (wrong type, too many decimals, unknown key) ->
    ``INVALID_FORMAT``.
    """
    findings: list[Finding] = []
    for error in exc.errors(include_url=False):
        kind = error["type"]
        loc: tuple[Any, ...] = tuple(p for p in error["loc"]
                                     if not (isinstance(p, str) and p.startswith("function-")))
        path = join_path(prefix, loc)
        if kind in _MISSING or (error.get("input", 0) is None and kind.endswith("_type")):
            rule, message = "MISSING_REQUIRED", "required value is missing"
        elif kind in _UNKNOWN_CODE:
            rule, message = "UNKNOWN_CODE", f"{error['msg']}, got {error.get('input')!r}"
        elif kind.isupper():
            rule, message = kind, error["msg"]
        elif kind == "extra_forbidden":
            rule, message = "INVALID_FORMAT", "unknown member"
        else:
            rule, message = "INVALID_FORMAT", error["msg"]
        finding = Finding(rule, path, message)
        if finding not in findings:
            findings.append(finding)
    return findings
