"""The ``mchub`` command line: thin shells around the hub's core and adapters."""
