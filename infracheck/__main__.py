"""`python -m infracheck` is the `infracheck` command."""

from infracheck.cli import run

run()
