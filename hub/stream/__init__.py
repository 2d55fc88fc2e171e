"""The stream kernel and the stages that run on it.

- :mod:`hub.stream.kernel`       the one consume → process → produce loop: transactions,
                                 sinks flushed before offsets commit, fencing, outages
- :mod:`hub.stream.store`        changelog-backed state stores with recovery
- :mod:`hub.stream.ingest`       source topics → decide requests (normalise, authorise)
- :mod:`hub.stream.decide`       lifecycle decisions → the canonical log
- :mod:`hub.stream.chain`        the per-partition hash chain of ``canon.events.log``
- :mod:`hub.stream.checkpoints`  signed checkpoints of the chain on ``audit.checkpoints.log``
- :mod:`hub.stream.canonical`    keys of the canonical log (per credential, per learner)
- :mod:`hub.stream.reading`      reading topics to their end (read_committed), by time
- :mod:`hub.stream.runner`       the stages of ``mchub run`` and their supervision
- :mod:`hub.stream.metrics`, :mod:`hub.stream.outage`  what the workers report and log
"""
