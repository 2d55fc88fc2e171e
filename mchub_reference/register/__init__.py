"""The reference national register: a store of current credential state and enrolments.

It accepts the push contract (:mod:`connectors.register.models`, served over HTTP by
:mod:`mchub_reference.register.service`), keeps the state in SQLite (embedded default) or
PostgreSQL (``[reference]`` extra) behind the
:class:`~mchub_reference.register.store.RegisterStore` port
(:func:`~mchub_reference.register.backends.open_store` picks the adapter), and answers
credential, learner and verification queries.
"""
