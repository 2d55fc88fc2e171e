"""mchub: the interoperability message hub of a national micro-credential system.

Architecture (pure core, I/O at the edge):

- ``hub.contract``   canonical Avro schemas, pydantic models, validation rules, codec
- ``hub.normalise``  pure sector normalisers (he JSON, vet XML, al CSV) -> canonical records
- ``hub.core``       pure lifecycle decisions: ``decide(state, event) -> outcome``
- ``hub.ports``      the ports (event log, sink, key store, signer, status list store)
- ``hub.adapters``   one adapter module per technology (Kafka, SQLite, HTTP, ...)
- ``hub.stream``     stream processors: thin shells around the core
- ``hub.localkafka`` fetches, starts and stops a real Apache Kafka broker from Maven Central
- ``hub.cli``        the ``mchub`` command line
"""

__version__ = "0.1.0"
