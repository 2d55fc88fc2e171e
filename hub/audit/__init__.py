"""Replay and audit for operators: the canonical log as the answer to auditors' questions.

- :mod:`hub.audit.verify`       recompute chains and checkpoint signatures, report the
                                first broken link per partition
- :mod:`hub.audit.replay`       rebuild projections from the log into fresh targets
- :mod:`hub.audit.history`      one credential's history with provenance and deliveries
- :mod:`hub.audit.report`       period report (JSON and a self-contained HTML page)
- :mod:`hub.audit.redrive`      idempotent re-delivery to one destination

The hash chain and the signed checkpoints are written by the stream kernel
(:mod:`hub.stream.chain`, :mod:`hub.stream.checkpoints`), and topics are read to their end
by :mod:`hub.stream.reading`. Algorithms and formats are documented in ``docs/audit.md``.
"""
