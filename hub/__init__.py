"""mchub: the interoperability message hub of a national micro-credential system.

Layers (each imports only the layers below it; ``pyproject.toml`` [tool.importlinter]
enforces them, the README draws them):

composition  ``hub.cli`` the ``mchub`` command line; ``hub.bench`` its benchmarks;
             ``hub.localkafka`` fetches, starts and stops a real Apache Kafka
stand-ins    ``mchub_reference`` (register, wallet host, EDC endpoint) for tests and demo
edges        ``hub.gateway`` HTTP ingestion; ``hub.audit`` replay, verification, reports;
             ``connectors`` fan-out, delivery, destinations, the issuer/status server;
             ``hub.publish`` and ``hub.receipts`` for sector systems
kernel       ``hub.stream`` the one stream kernel and its stages, with the hash chain and
             signed checkpoints; ``hub.crypto`` keys, seals, signatures, status lists
platform     ``hub.adapters`` one module per technology (Kafka, in-memory, SQLite, HTTP
             server); ``hub.topics`` the declared topics
pure         ``hub.core`` lifecycle decisions ``decide(state, event) -> outcome``;
             ``hub.contract`` canonical Avro schemas, models, codec; ``hub.normalise``
             sector normalisers; ``hub.render`` ELM 3 and OB 3.0 renderers; ``hub.authz``
base         ``hub.settings``, ``hub.errors``, ``hub.resources``, ``hub.vocab``, ``hub.wire``
"""

__version__ = "0.1.0"
