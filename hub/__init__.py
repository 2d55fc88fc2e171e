"""mchub: the interoperability message hub of a national micro-credential system.

Architecture (pure core, I/O at the edge):

- ``hub.contract``   canonical Avro schemas (package data), pydantic models, rules, codec
- ``hub.normalise``  pure sector normalisers (he JSON, vet XML, al CSV) -> canonical records
- ``hub.core``       pure lifecycle decisions: ``decide(state, event) -> outcome``, and the
                     ``KeyValueStore`` port its tables are kept in
- ``hub.stream``     the one stream kernel and its stages (ingest, decide, projections)
- ``hub.adapters``   one adapter module per technology (Kafka, in-memory log, SQLite, HTTP)
- ``hub.audit``      replay, hash-chain verification and reports over the canonical log
- ``hub.gateway``    the HTTP ingestion gateway
- ``hub.localkafka`` fetches, starts and stops a real Apache Kafka broker from Maven Central
- ``hub.cli``        the ``mchub`` command line; ``hub.bench`` its benchmarks
- ``hub.resources``  files shipped inside the packages (read the same in every install)

Destinations, renderers and signing live in the sibling package ``connectors``.
"""

__version__ = "0.1.0"
