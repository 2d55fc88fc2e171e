"""Replay and audit for operators: the canonical log as the answer to auditors' questions.

- :mod:`hub.audit.chain`        the per-partition hash chain of ``canon.events.log``
                                (``prevHash``), partitioning and fast envelope reads
- :mod:`hub.audit.checkpoints`  signed checkpoints (partition, sequence, chain head) on
                                ``audit.checkpoints.log``
- :mod:`hub.audit.verify`       recompute chains and checkpoint signatures, report the
                                first broken link per partition
- :mod:`hub.stream.reading`      reading topics to their end (read_committed), by time
- :mod:`hub.audit.replay`       rebuild projections from the log into fresh targets
- :mod:`hub.audit.history`      one credential's history with provenance and deliveries
- :mod:`hub.audit.report`       period report (JSON and a self-contained HTML page)
- :mod:`hub.audit.redrive`      idempotent re-delivery to one destination

Algorithms and formats are documented in ``docs/audit.md``.
"""
