"""Reference stand-ins the demo and the tests deliver to: not the product.

A country replaces each of these with its own system; the hub's connectors talk to them
through the same public contracts they use for the real ones.

- :mod:`mchub_reference.register`     the reference national register (HTTP push API,
  SQLite by default, PostgreSQL with the ``[reference]`` extra)
- :mod:`mchub_reference.wallet_host`  a learner wallet host speaking the OB 3.0 API
- :mod:`mchub_reference.edc_endpoint` an EDC/Europass deposit endpoint
- :mod:`mchub_reference.local`        all of them (and the issuer/status server) started
  together as the demo's local destinations

Product code (``hub``, ``connectors``) never imports this package; an import-linter
contract in pyproject.toml enforces it.
"""
