"""Report files (--output): where a report is written besides stdout."""

from __future__ import annotations

from pathlib import Path

from infracheck.model import CannotRun


def write(path: Path, content: str) -> None:
    """Write one report file; a failure is one line naming the path."""
    try:
        path.write_text(content, encoding="utf-8")
    except OSError as exc:
        raise CannotRun(f"cannot write {path}: {exc.strerror}") from None


__all__ = ["write"]
