"""``python -m hub``: the same as the ``mchub`` command."""

from hub.cli.main import main

main()
