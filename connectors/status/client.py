"""Fetching status list credentials over HTTP for the verifier.

:class:`HttpStatusResolver` is a :data:`hub.crypto.verify.StatusResolver`: it GETs a
credential's ``statusListCredential`` URL (http/https only, bounded time and size) and
returns the VC-JWT text; the verifier then checks its signature, id and bit. One resolver
keeps one connection pool and, per URL, the last list and its ``ETag``: later calls
revalidate (``If-None-Match``; a ``304`` reuses the kept list), so a revocation is seen
at once — the status server answers ``Cache-Control: no-cache`` — without downloading
and TLS-handshaking the whole list for every credential checked. A list that cannot be
fetched is reported as ``status-list-unavailable`` — a verifier asked to check status must
not call a credential valid because the list was out of reach.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Final
from urllib.parse import urlsplit

import httpx

from hub.errors import VerificationError

MAX_LIST_BYTES: Final = 1 << 20
ACCEPT: Final = "application/vc+jwt, application/jwt;q=0.9, text/plain;q=0.5"


class HttpStatusResolver:
    """Resolve status list URLs to their VC-JWT text over HTTP (revalidated per call).

    Thread-safe; :meth:`close` (or ``with``) releases the connection pool.
    """

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
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()
        #: url -> (etag, list token) of the last 200 answer that carried an ETag
        self._kept: dict[str, tuple[str, str]] = {}

    def _http(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                self._client = httpx.Client(timeout=self.timeout, transport=self._transport)
            return self._client

    def close(self) -> None:
        """Close the connection pool (a later call opens a new one)."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def __enter__(self) -> HttpStatusResolver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __call__(self, url: str) -> str | None:
        """The list credential at ``url``; raises ``VerificationError`` when unreachable."""
        if urlsplit(url).scheme not in ("http", "https"):
            raise VerificationError(
                "status-list-unavailable", f"status list URL {url!r} is not http(s)"
            )
        headers = {"Accept": ACCEPT}
        kept = self._kept.get(url)
        if kept is not None:
            headers["If-None-Match"] = kept[0]
        try:
            response = self._http().get(url, headers=headers)
        except httpx.HTTPError as exc:
            raise VerificationError(
                "status-list-unavailable", f"cannot fetch status list {url}: {exc}"
            ) from exc
        if response.status_code == 304 and kept is not None:
            return kept[1]
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
        etag = response.headers.get("etag")
        if etag:
            self._kept[url] = (etag, token)
        else:
            self._kept.pop(url, None)
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


def fetch_crl(url: str) -> bytes:
    """GET a CRL over HTTP(S) for :func:`hub.crypto.pki.crl_revocation_check`
    (raises :class:`OSError` when it cannot be fetched)."""
    try:
        answer = httpx.get(url, timeout=10.0, follow_redirects=True)
    except httpx.HTTPError as exc:
        raise OSError(f"cannot fetch {url}: {exc}") from exc
    if answer.status_code != 200:
        raise OSError(f"{url} answered {answer.status_code}")
    return answer.content
