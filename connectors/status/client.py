"""Fetching status list credentials over HTTP for the verifier.

:class:`HttpStatusResolver` is a :data:`connectors.crypto.verify.StatusResolver`: it GETs a
credential's ``statusListCredential`` URL (http/https only, bounded time and size, one
fetch per URL per resolver) and returns the VC-JWT text; the verifier then checks its
signature, id and bit. A list that cannot be fetched is reported as
``status-list-unavailable`` — a verifier asked to check status must not call a credential
valid because the list was out of reach.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final
from urllib.parse import urlsplit

import httpx

from connectors.crypto.jose import VerificationError

MAX_LIST_BYTES: Final = 1 << 20
ACCEPT: Final = "application/vc+jwt, application/jwt;q=0.9, text/plain;q=0.5"


class HttpStatusResolver:
    """Resolve status list URLs to their VC-JWT text over HTTP (cached per URL)."""

    def __init__(
        self,
        *,
        timeout: float = 10.0,
        max_bytes: int = MAX_LIST_BYTES,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.timeout = timeout
        self.max_bytes = max_bytes
        self._transport = transport
        self._cache: dict[str, str] = {}

    def __call__(self, url: str) -> str | None:
        """The list credential at ``url``; raises ``VerificationError`` when unreachable."""
        if url in self._cache:
            return self._cache[url]
        if urlsplit(url).scheme not in ("http", "https"):
            raise VerificationError(
                "status-list-unavailable", f"status list URL {url!r} is not http(s)"
            )
        try:
            with httpx.Client(timeout=self.timeout, transport=self._transport) as client:
                response = client.get(url, headers={"Accept": ACCEPT})
        except httpx.HTTPError as exc:
            raise VerificationError(
                "status-list-unavailable", f"cannot fetch status list {url}: {exc}"
            ) from exc
        if response.status_code != 200:
            raise VerificationError(
                "status-list-unavailable",
                f"status list {url} answered HTTP {response.status_code}",
            )
        if len(response.content) > self.max_bytes:
            raise VerificationError(
                "status-list-unavailable", f"status list {url} exceeds {self.max_bytes} bytes"
            )
        token = response.text.strip()
        self._cache[url] = token
        return token


def chain_resolvers(
    *resolvers: Callable[[str], str | None],
) -> Callable[[str], str | None]:
    """A resolver asking each of ``resolvers`` in turn; the first answer wins."""

    def resolve(url: str) -> str | None:
        for resolver in resolvers:
            found = resolver(url)
            if found is not None:
                return found
        return None

    return resolve
