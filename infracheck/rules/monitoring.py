"""The dialect's Cloud Monitoring functions (`values`, `percentile`, `fit`, `days_until`...) as plain functions:
what a time series (runner/metrics.py's documents) and a Cloud SQL tier say, as numbers.

Base of the rules like values.py: the typed dialect calls them, each raising values.Mistyped for a value of
the wrong type (the rule is then not judged, its field named).
"""

from __future__ import annotations

import math
import re
from typing import Any

from infracheck import timeutil
from infracheck.rules.values import Mistyped, number

_TIER_GB = {"db-f1-micro": 0.6, "db-g1-small": 1.7}
_TIER_PER_CPU_GB = {"standard": 3.75, "highmem": 6.5}


def values(series: list[Any] | None) -> list[float]:
    """Every point's value of a list of TimeSeries, as numbers, newest first within each series as the API
    sends them: int64Value is a string in JSON, doubleValue a number, an aligned distribution its mean."""
    out: list[float] = []
    for one in series or []:
        for point in (one.get("points") or []) if isinstance(one, dict) else []:
            out.append(_point_value(point))
    return out


def count_at_least(found: list[float], limit: Any) -> int:
    """How many points reached a limit (a connector at its maxInstances)."""
    return sum(1 for v in found if v >= number(limit))


def percent(part: float | None, whole: Any) -> float | None:
    """part as a percentage of whole, one decimal; None when either is unknown or whole is 0."""
    if part is None or whole is None or number(whole) == 0:
        return None
    return round(100 * _float(part) / _float(whole), 1)


def percentile(found: list[float], rank: float) -> float | None:
    """Nearest-rank percentile of the window's points; None for no points."""
    if not found:
        return None
    ordered = sorted(found)
    index = max(0, math.ceil(rank / 100 * len(ordered)) - 1)
    return ordered[min(index, len(ordered) - 1)]


def step(value: float | None, table: list[Any]) -> Any:
    """A step table [[from, result], ...] (ascending): the result of the last row whose `from` is at most
    value (GCP's defaults by memory tier)."""
    if value is None:
        return None
    found = None
    for row in table:
        if not isinstance(row, list) or len(row) != 2:
            raise Mistyped(row, "a [from, result] pair")
        if value >= number(row[0]):
            found = row[1]
    return found


def tier_memory_gb(tier: str) -> float | None:
    """A Cloud SQL machine tier's memory in GB (settings.tier): db-custom-CPUS-MB, the shared-core
    db-f1-micro and db-g1-small, db-n1-standard-N and db-n1-highmem-N (3.75 and 6.5 GB per vCPU);
    None for a tier not known here."""
    if tier in _TIER_GB:
        return _TIER_GB[tier]
    custom = re.fullmatch(r"db-(?:custom|perf-optimized-N)-([0-9]+)-([0-9]+)", tier)
    if custom:
        return int(custom.group(2)) / 1024
    n1 = re.fullmatch(r"db-n1-(standard|highmem)-([0-9]+)", tier)
    if n1:
        return _TIER_PER_CPU_GB[n1.group(1)] * int(n1.group(2))
    return None


def fit(series: list[Any]) -> dict[str, Any] | None:
    """A least-squares line through the points of a series list, by day: {points, per_day (growth a day),
    latest (the line's value at the newest point)}; None for fewer than 3 points."""
    points = []
    for one in series:
        for point in (one.get("points") or []) if isinstance(one, dict) else []:
            end = (point.get("interval") or {}).get("endTime") if isinstance(point, dict) else None
            try:
                when = timeutil.parse_rfc3339(str(end))
            except ValueError:
                raise Mistyped(end, "an RFC 3339 endTime") from None
            points.append((when.timestamp() / 86400, _float(_point_value(point))))
    if len(points) < 3:
        return None
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / spread if spread else 0.0
    newest = max(x for x, _ in points)
    return {"points": n, "per_day": round(slope, 2), "latest": round(mean_y + slope * (newest - mean_x), 1)}


def days_until(fitted: dict[str, Any] | None, limit: Any) -> float | None:
    """Days until a fitted line reaches limit; None when it does not grow (or nothing was fitted)."""
    if not fitted or limit is None:
        return None
    per_day, latest = _float(fitted.get("per_day")), _float(fitted.get("latest"))
    if per_day <= 0:
        return None
    days: float = round(max(0.0, (_float(limit) - latest) / per_day), 1)
    return days


def _float(value: Any) -> float:
    """number() as a float, for arithmetic (a share, a fit): an integer past a float's range is mistyped."""
    try:
        return float(number(value))
    except OverflowError:
        raise Mistyped(value, "a number within a float's range") from None


def _point_value(point: Any) -> float:
    value = point.get("value") if isinstance(point, dict) else None
    if not isinstance(value, dict):
        raise Mistyped(point, "a point with a value")
    for key in ("int64Value", "doubleValue"):
        if key in value:
            return number(value[key])
    if isinstance(value.get("distributionValue"), dict):
        return number(value["distributionValue"].get("mean", 0))
    raise Mistyped(value, "an int64Value, doubleValue or distributionValue")
