"""infracheck: a Google Cloud incident runbook as one command."""

from pathlib import Path

__version__ = "0.1.0"


def default_dir() -> Path:
    """The built-in catalog: the installed package `infracheck.commands` (a folder beside this
    module), else the source tree's commands/. Here, not in catalog.py, so that the catalog
    cache can find it without loading the catalog's parsers."""
    here = Path(__file__).resolve().parent
    installed = here / "commands"
    return installed if (installed / "profile.toml").is_file() else here.parent / "commands"
