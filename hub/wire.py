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
  (``hub.normalise.common.canonical_json``, ``hub.core.state.elements_digest``) fall
  back to the standard library wherever that could happen.
- :func:`uuid5` / :func:`uuid5_hex`: RFC 4122 version-5 ids as text, equal to
  ``str(uuid.uuid5(namespace, name))`` / ``.hex``; :func:`uuid5_in` for many names in
  one namespace.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from typing import Any

import orjson

__all__ = ["dumps", "loads", "uuid5", "uuid5_hex", "uuid5_in"]


def dumps(value: Any, *, sort_keys: bool = False) -> bytes:
    """Compact UTF-8 JSON of ``value`` (keys sorted when asked)."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS if sort_keys else 0)


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
