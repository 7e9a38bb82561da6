"""infracheck: a Google Cloud incident runbook as one command."""

__version__ = "0.1.0"
