"""``multipart/form-data`` (RFC 7578) encoding and parsing, for file parts only.

The EDC wallet API takes a credential file as the form part ``_credential``. The delivery
sink's :class:`~connectors.delivery.http_sink.HttpRequest` carries raw ``content`` and
headers, so the body is built here: :func:`encode_multipart` returns the bytes and the
``Content-Type`` with its boundary. :func:`parse_multipart` is the strict reader the local
EDC endpoint uses (no dependency on ``python-multipart``).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Final

from hub.errors import MultipartError

_SAFE_NAME: Final = re.compile(r'^[^"\r\n\\]*$')
_PARAM: Final = re.compile(r';\s*([A-Za-z0-9_*-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]+))')




@dataclass(frozen=True)
class FilePart:
    """One form part: field name, file name, media type and content."""

    name: str
    filename: str | None
    content_type: str
    data: bytes


def encode_multipart(parts: list[FilePart], boundary: str | None = None) -> tuple[bytes, str]:
    """``(body, content type)`` of a ``multipart/form-data`` request with ``parts``."""
    mark = boundary or "mchub-" + secrets.token_hex(16)
    chunks: list[bytes] = []
    for part in parts:
        for text in (part.name, part.filename or ""):
            if not _SAFE_NAME.match(text):
                raise MultipartError(f"unsafe form field or file name {text!r}")
        disposition = f'form-data; name="{part.name}"'
        if part.filename is not None:
            disposition += f'; filename="{part.filename}"'
        if mark.encode() in part.data:  # pragma: no cover - 128 random bits
            raise MultipartError("the boundary occurs in a part")
        chunks.append(
            f"--{mark}\r\nContent-Disposition: {disposition}\r\n"
            f"Content-Type: {part.content_type}\r\n\r\n".encode()
            + part.data
            + b"\r\n"
        )
    chunks.append(f"--{mark}--\r\n".encode())
    return b"".join(chunks), f"multipart/form-data; boundary={mark}"


def header_params(value: str) -> tuple[str, dict[str, str]]:
    """A header's main value and its parameters (``name="x"; filename=y``), lower-cased keys."""
    main = value.split(";", 1)[0].strip().lower()
    params: dict[str, str] = {}
    for m in _PARAM.finditer(value):
        quoted = m.group(2)
        plain = quoted.replace('\\"', '"') if quoted is not None else m.group(3)
        params[m.group(1).lower()] = plain
    return main, params


def parse_multipart(body: bytes, content_type: str) -> list[FilePart]:
    """The parts of a ``multipart/form-data`` body; :class:`MultipartError` when malformed."""
    media, params = header_params(content_type)
    if media != "multipart/form-data" or not params.get("boundary"):
        raise MultipartError("not multipart/form-data with a boundary")
    delimiter = b"--" + params["boundary"].encode()
    if not body.startswith(delimiter) and (b"\r\n" + delimiter) not in body:
        raise MultipartError("the body does not contain the boundary")
    sections = (b"\r\n" + body).split(b"\r\n" + delimiter)
    parts: list[FilePart] = []
    closed = False
    for section in sections[1:]:
        if section.startswith(b"--"):
            closed = True
            break
        if not section.startswith(b"\r\n"):
            raise MultipartError("a boundary line is not followed by CRLF")
        head, sep, data = section[2:].partition(b"\r\n\r\n")
        if not sep:
            raise MultipartError("a part has no header/body separator")
        headers: dict[str, str] = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            key, colon, value = line.partition(":")
            if not colon:
                raise MultipartError(f"bad part header line {line!r}")
            headers[key.strip().lower()] = value.strip()
        kind, disp = header_params(headers.get("content-disposition", ""))
        if kind != "form-data" or "name" not in disp:
            raise MultipartError("a part lacks Content-Disposition: form-data; name=...")
        parts.append(
            FilePart(
                disp["name"],
                disp.get("filename"),
                headers.get("content-type", "text/plain"),
                data,
            )
        )
    if not closed:
        raise MultipartError("the closing boundary is missing")
    return parts
