"""The ingestion gateway: the three feeds over HTTP, authenticated and authorised.

``POST /v1/feeds/{he|vet|al}/events`` takes exactly the payloads of the feed contract
(§2), checks them cheaply (size, content type, API key, rate limit, parse verdict of the
normaliser, issuer registry) and appends them byte for byte to the source topic, with
``mchub-receipt-id`` and ``mchub-source`` headers, once Kafka acknowledged (acks=all).
``GET /v1/receipts/{id}`` reads the stream's verdict from the receipts topics.

Modules: :mod:`~hub.gateway.app` (FastAPI routes, OpenAPI),
:mod:`~hub.gateway.runtime` (the checks and the Kafka append),
:mod:`~hub.gateway.wire` (answer models, RFC 9457 problems),
:mod:`~hub.gateway.server` (uvicorn, TLS client certificates, threads, SIGTERM),
:mod:`~hub.gateway.auth` (API keys), :mod:`~hub.gateway.ratelimit` (token buckets),
:mod:`~hub.gateway.idempotency` (submissions and ``Idempotency-Key`` store, SQLite),
:mod:`~hub.gateway.receipts` (receipts follower and outcome reports). Its settings
(``MCHUB_GATEWAY_*``) are the ``gateway`` section of :class:`hub.settings.Settings`; the
issuer registry shared with the stream is :mod:`hub.authz`. Design: docs/gateway.md.
"""
