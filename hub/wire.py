"""Fast building blocks of the per-event hot path: JSON bytes and name-based UUIDs.

Every record the stream stages write or read besides the Avro log (decide requests,
receipts, rejections, changelog heads) and every signed document is JSON; the standard
library's encoder and decoder were a fifth of the core stream's CPU time per event, and
``uuid.uuid5`` (a ``UUID`` object per id) most of the ELM renderer's (``mchub bench
cost``). These are drop-in replacements with the same output for the data the hub puts
through them:

- :func:`dumps` / :func:`loads`: orjson — compact UTF-8 JSON, key order kept (or sorted),
  the same bytes as ``json.dumps(value, ensure_ascii=False, separators=(",", ":"))`` for
  strings, integers, booleans, ``None``, lists and dicts with string keys (the tests
  compare them). Floats keep their value but below 1e-4 are spelt differently (``1e-07``
  vs ``1.5e-7``, ``1e-05`` vs ``0.00001``): the texts behind stored digests
  (``hub.normalise.common.canonical_json``, ``hub.core.state.elements_digest``) and the
  signed documents use :func:`standard_json`, which falls back to the standard library
  wherever that could happen.
- :func:`uuid5` / :func:`uuid5_hex`: RFC 4122 version-5 ids as text, equal to
  ``str(uuid.uuid5(namespace, name))`` / ``.hex``; :func:`uuid5_in` for many names in
  one namespace.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Callable
from typing import Any, Final

import orjson

__all__ = ["dumps", "loads", "standard_json", "uuid5", "uuid5_hex", "uuid5_in"]

#: dates, dataclasses and subclasses of str/int/dict/list are not orjson's to write: the
#: standard library writes (or refuses) them as it always did
_PASSTHROUGH: Final = (
    orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)
#: where orjson may spell a float otherwise than the standard library: an exponent
#: (``1e-7`` for ``1e-07``), checked to start a number token below
_EXPONENT: Final = re.compile(rb"e-[0-9]")
_DIGITS: Final = frozenset(b"0123456789")
_NUMBER_BODY: Final = frozenset(b"0123456789.")
_VALUE_START: Final = frozenset(b":,[")
_MINUS: Final = ord("-")


def dumps(value: Any, *, sort_keys: bool = False) -> bytes:
    """Compact UTF-8 JSON of ``value`` (keys sorted when asked)."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS if sort_keys else 0)


def standard_json(
    value: Any,
    *,
    sort_keys: bool = False,
    default: Callable[[Any], Any] | None = None,
    finite: bool = False,
) -> bytes:
    """Exactly ``json.dumps(value, ensure_ascii=False, separators=(",", ":"),
    sort_keys=sort_keys, default=default)`` in UTF-8 — for text that is signed or hashed.

    orjson writes the same bytes several times faster, except that it spells floats
    below 1e-4 otherwise (``0.00001`` / ``1e-7`` for ``1e-05`` / ``1e-07``), writes
    ``null`` for ``NaN`` and ``Infinity``, and refuses what it cannot write (keys that
    are not strings, integers beyond 64 bits, the types passed through above). The
    standard library writes the value whenever orjson's output could hold such a number
    (a ``0.0000``, a negative exponent, or — unless the caller knows every float is
    finite, ``finite=True`` — a ``null``; also when only inside a string: that costs
    time, never bytes) or orjson refused it.
    """
    option = _PASSTHROUGH | (orjson.OPT_SORT_KEYS if sort_keys else 0)
    try:
        data = orjson.dumps(value, default=default, option=option)
    except TypeError:
        return _standard(value, sort_keys, default)
    if (
        (not finite and b"null" in data)
        or b"0.0000" in data
        or _has_negative_exponent(data)
    ):
        return _standard(value, sort_keys, default)
    return data


def _standard(value: Any, sort_keys: bool, default: Callable[[Any], Any] | None) -> bytes:
    text = json.dumps(
        value, ensure_ascii=False, separators=(",", ":"), sort_keys=sort_keys, default=default
    )
    return text.encode("utf-8")


def _has_negative_exponent(data: bytes) -> bool:
    """Whether compact JSON ``data`` may hold a number with a negative exponent."""
    for match in _EXPONENT.finditer(data):
        at = match.start()  # the "e"
        if at == 0 or data[at - 1] not in _DIGITS:
            continue
        start = at - 1
        while start > 0 and data[start - 1] in _NUMBER_BODY:
            start -= 1
        if start > 0 and data[start - 1] == _MINUS:
            start -= 1
        if start == 0 or data[start - 1] in _VALUE_START:
            return True
    return False


def loads(data: bytes | bytearray | memoryview | str) -> Any:
    """Parse JSON; raises ``ValueError`` (``orjson.JSONDecodeError``) on bad input."""
    return orjson.loads(data)


#: the first hex digit of an RFC 4122 variant byte, by the digest's digit there
_VARIANT: dict[str, str] = {c: "89ab"[int(c, 16) & 0x3] for c in "0123456789abcdef"}


def uuid5_hex(namespace: uuid.UUID, name: str) -> str:
    """The version-5 UUID of ``name`` in ``namespace`` as 32 hex digits."""
    h = hashlib.sha1(namespace.bytes + name.encode("utf-8")).hexdigest()
    # version nibble (digit 12) = 5; variant bits (top of digit 16) = 10
    return f"{h[:12]}5{h[13:16]}{_VARIANT[h[16]]}{h[17:32]}"


def uuid5(namespace: uuid.UUID, name: str) -> str:
    """The version-5 UUID of ``name`` in ``namespace``, hyphenated (``str(uuid.uuid5())``)."""
    h = hashlib.sha1(namespace.bytes + name.encode("utf-8")).hexdigest()
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}"


def uuid5_in(namespace: uuid.UUID) -> Callable[[str], str]:
    """:func:`uuid5` of many names in one namespace (the namespace is hashed once)."""
    start = hashlib.sha1(namespace.bytes)

    def named(name: str) -> str:
        digest = start.copy()
        digest.update(name.encode("utf-8"))
        h = digest.hexdigest()
        return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}"

    return named
