"""``python -m claimvault.cli``: the same as the ``claimvault`` command."""

from claimvault.cli.main import main

main()
