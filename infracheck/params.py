"""The command line's own value types: a number of seconds, a duration, an address to listen on.

Each refuses what would hang or crash later (nan, inf, out of range) with click's one-line usage error.
"""

from __future__ import annotations

import math
from typing import Any

import click


class Seconds(click.ParamType):  # type: ignore[type-arg]  # generic only in newer click
    """A finite number of seconds in [low, high]; every number option uses it.

    click's FloatRange lets nan through (every comparison with nan is false)
    and float() reads "inf": both would reach a timeout or a sleep.
    """

    name = "seconds"

    def __init__(self, low: float, high: float) -> None:
        self.low, self.high = low, high

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            seconds = math.nan
        return _in_range(self, value, seconds, self.low, self.high, "a number of seconds", param, ctx)


def _in_range(kind: Seconds | Duration, value: Any, seconds: float, low: float, high: float, what: str,
              param: click.Parameter | None, ctx: click.Context | None) -> float:
    if not (math.isfinite(seconds) and low <= seconds <= high):
        kind.fail(f"'{value}' is not {what} between {_seconds(low)} and {_seconds(high)}", param, ctx)
    return seconds


def _seconds(value: float) -> str:
    for unit, size in (("week", 7 * 86400), ("day", 86400), ("h", 3600)):
        if value >= size and value % size == 0:
            count = int(value // size)
            return f"{count} {unit}" if unit == "h" else f"a {unit}" if count == 1 else f"{count} {unit}s"
    return f"{value:g} s"


class Duration(click.ParamType):  # type: ignore[type-arg]  # generic only in newer click
    """Seconds, or a number with s, m or h: 900, 15m, 1h."""

    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        text = str(value).strip().lower()
        scale = {"s": 1, "m": 60, "h": 3600}.get(text[-1:], None)
        try:
            seconds = float(text[:-1] if scale else text) * (scale or 1)
        except ValueError:
            self.fail(f"'{value}' is not a duration (e.g. 900, 15m, 1h)", param, ctx)
        if seconds <= 0:  # "a duration" is never zero: --max-wait 0 would stop before the first look
            self.fail(f"'{value}' is not a duration between 1 s and a week", param, ctx)
        return _in_range(self, value, seconds, 1, 7 * 86400, "a duration", param, ctx)


class Address(click.ParamType):  # type: ignore[type-arg]  # generic only in newer click
    """HOST:PORT, [IPv6]:PORT, or a bare PORT on 127.0.0.1."""

    name = "address"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> tuple[str, int]:
        text = str(value).strip()
        host, sep, port = text.rpartition(":")
        host = (host if sep else "127.0.0.1").strip("[]")
        if not port.isdigit() or not 0 <= int(port) <= 65535 or not host or (":" in host and "[" not in text):
            self.fail(f"'{value}' is not HOST:PORT (e.g. 127.0.0.1:9847, [::1]:9847, 0.0.0.0:9847)", param, ctx)
        return host, int(port)
