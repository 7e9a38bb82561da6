"""Cloud Monitoring v3 `projects.timeSeries.list` for the fake Google API (tests/tools/fakeapi.py).

A scenario describes raw samples, not answers: `monitoring.test/v3/projects/P/timeSeries.json`
holds ``{"raw": [SERIES, ...]}``, each SERIES the TimeSeries header (metric,
resource, metricKind, valueType, unit) plus its samples by age, ending at the
query's own `interval.endTime` (so any window, period or clock reads the
same load):

- ``"minutes": [v0, v1, ...]``: one sample per minute, newest first (v0 is the
  minute that ends at endTime); a DISTRIBUTION's sample is a list of values
  (latencies in ms) and a DELTA INT64's is the count in that minute;
- ``"daily": [d1, d2, ...]``: one more sample at the end of each earlier day
  (1, 2, ... days before endTime), for trends over days.

A derived scenario's series replace its base's series of the same metric,
resource and labels; the others are inherited. The answer is built as the
real API builds it: the filter selects series (a subset of the grammar:
`KEY = "V"`, `KEY != "V"`, `KEY = one_of("A", "B")` joined by AND, exactly
one metric.type), the per-series aligner aligns samples into periods that
end at endTime, the cross-series reducer groups by `groupByFields`, points
come newest first, int64 values as strings, `timeSeries` is absent when
nothing matches, and an aligner that does not fit the metric's kind or value
type is a 400 INVALID_ARGUMENT with the API's wording.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

_CLAUSE = re.compile(
    r'\s*(?P<key>metric\.type|resource\.type|(?:metric|resource)\.labels?\.[A-Za-z_][A-Za-z0-9_]*)\s*'
    r'(?P<op>=|!=)\s*(?:"(?P<value>[^"]*)"|one_of\((?P<alts>\s*"[^"]*"\s*(?:,\s*"[^"]*"\s*)*)\))\s*$'
)
_NUMERIC = ("INT64", "DOUBLE")
_PERCENTILE = re.compile(r"^ALIGN_PERCENTILE_(99|95|50|05)$")


class BadRequest(Exception):
    """A query the real API refuses with 400 INVALID_ARGUMENT."""


def key_of(series: Mapping[str, Any]) -> tuple[Any, ...]:
    """Identity of a raw series: metric type and labels, resource type and labels."""
    metric, resource = series.get("metric", {}), series.get("resource", {})
    return (metric.get("type"), tuple(sorted((metric.get("labels") or {}).items())),
            resource.get("type"), tuple(sorted((resource.get("labels") or {}).items())))


def merge(layers: Sequence[Sequence[Mapping[str, Any]]]) -> list[Mapping[str, Any]]:
    """Raw series of a scenario chain, scenario first: a derived layer replaces same-key series."""
    merged: dict[tuple[Any, ...], Mapping[str, Any]] = {}
    for layer in reversed(layers):
        for series in layer:
            merged[key_of(series)] = series
    return list(merged.values())


def answer(params: Mapping[str, list[str]], raw: Sequence[Mapping[str, Any]], page_points: int = 100000) -> dict[str, Any]:
    """The ListTimeSeriesResponse body for one page of a query; BadRequest for what the API refuses."""
    filter_text = _one(params, "filter")
    if not filter_text:
        raise BadRequest("Field filter had an invalid value: a filter is required.")
    clauses = _parse_filter(filter_text)
    end = _time(_one(params, "interval.endTime"), "interval.endTime")
    start_text = _one(params, "interval.startTime")
    start = _time(start_text, "interval.startTime") if start_text else end
    if start > end:
        raise BadRequest("The start time must be before the end time.")
    aligner = _one(params, "aggregation.perSeriesAligner") or "ALIGN_NONE"
    reducer = _one(params, "aggregation.crossSeriesReducer") or "REDUCE_NONE"
    period_text = _one(params, "aggregation.alignmentPeriod")
    period = _seconds(period_text) if period_text else 0
    if aligner != "ALIGN_NONE" and period < 60:
        raise BadRequest("The alignment period must be at least 60 seconds.")
    group_by = params.get("aggregation.groupByFields", [])

    selected = [s for s in raw if all(_matches(s, c) for c in clauses)]
    aligned = []
    for series in selected:
        _check_aligner(aligner, series, reducer)
        points = _align(series, aligner, period, start, end)
        if points:
            aligned.append(_header(series, aligner) | {"points": points})
    if reducer != "REDUCE_NONE":
        aligned = _reduce(aligned, reducer, group_by)

    offset = int(_one(params, "pageToken") or 0)
    page, points = [], 0
    for series in aligned[offset:]:
        if page and points + len(series["points"]) > page_points:
            break
        page.append(series)
        points += len(series["points"])
    body: dict[str, Any] = {}
    if page:
        body["timeSeries"] = page
    if offset + len(page) < len(aligned):
        body["nextPageToken"] = str(offset + len(page))
    return body


def _one(params: Mapping[str, list[str]], name: str) -> str:
    values = params.get(name) or [""]
    return values[-1]


def _time(text: str, name: str) -> dt.datetime:
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"Field {name} had an invalid value of \"{text}\": must be an RFC 3339 time.") from None
    return when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)


def _seconds(text: str) -> int:
    match = re.fullmatch(r"([0-9]+)s", text)
    if not match:
        raise BadRequest(f"Field aggregation.alignmentPeriod had an invalid value of \"{text}\".")
    return int(match.group(1))


def _parse_filter(text: str) -> list[tuple[str, str, tuple[str, ...]]]:
    clauses = []
    for part in re.split(r"\s+AND\s+", text.strip()):
        match = _CLAUSE.match(part)
        if not match:
            raise BadRequest(f"The provided filter doesn't refer to any known metric. Could not parse: {part}")
        alts = match.group("alts")
        values = tuple(re.findall(r'"([^"]*)"', alts)) if alts is not None else (match.group("value"),)
        clauses.append((match.group("key").replace(".label.", ".labels."), match.group("op"), values))
    if sum(1 for key, op, _ in clauses if key == "metric.type" and op == "=") != 1:
        raise BadRequest("A filter must specify exactly one metric type: metric.type = \"...\".")
    return clauses


def _matches(series: Mapping[str, Any], clause: tuple[str, str, tuple[str, ...]]) -> bool:
    key, op, values = clause
    scope, _, rest = key.partition(".")
    part = series.get(scope) or {}
    actual = part.get("type") if rest == "type" else (part.get("labels") or {}).get(rest.split(".", 1)[1])
    return (actual in values) == (op == "=")


def _check_aligner(aligner: str, series: Mapping[str, Any], reducer: str) -> None:
    kind, value_type, metric = series["metricKind"], series["valueType"], series["metric"]["type"]

    def refuse(what: str) -> None:
        raise BadRequest(f"Field aggregation.perSeriesAligner had an invalid value of \"{aligner}\": "
                         f"{what} (metric {metric} is {kind} {value_type}).")

    if aligner == "ALIGN_NONE":
        if reducer != "REDUCE_NONE":
            raise BadRequest("Field aggregation.crossSeriesReducer requires a per-series aligner.")
        return
    if aligner in ("ALIGN_DELTA", "ALIGN_RATE") and kind == "GAUGE":
        refuse("it applies to DELTA and CUMULATIVE metrics only")
    if aligner == "ALIGN_RATE" and value_type not in _NUMERIC:
        refuse("it applies to numeric values only")
    if aligner in ("ALIGN_MIN", "ALIGN_MAX") and value_type not in _NUMERIC:
        refuse("it applies to numeric values only")
    if _PERCENTILE.match(aligner) and value_type != "DISTRIBUTION":
        refuse("percentile aligners apply to distribution values only")
    if aligner not in ("ALIGN_DELTA", "ALIGN_RATE", "ALIGN_MIN", "ALIGN_MAX", "ALIGN_MEAN", "ALIGN_SUM") \
            and not _PERCENTILE.match(aligner):
        refuse("this fake API does not implement it")
    if reducer != "REDUCE_NONE" and value_type == "DISTRIBUTION" and aligner in ("ALIGN_DELTA", "ALIGN_SUM"):
        raise BadRequest("This fake API does not reduce distributions across series.")


def _samples(series: Mapping[str, Any], end: dt.datetime) -> list[tuple[dt.datetime, Any]]:
    out = [(end - dt.timedelta(minutes=i), v) for i, v in enumerate(series.get("minutes") or [])]
    out += [(end - dt.timedelta(days=i + 1), v) for i, v in enumerate(series.get("daily") or [])]
    return out


def _align(series: Mapping[str, Any], aligner: str, period: int, start: dt.datetime,
           end: dt.datetime) -> list[dict[str, Any]]:
    samples = [(t, v) for t, v in _samples(series, end) if start <= t <= end]
    value_type = series["valueType"]
    if aligner == "ALIGN_NONE":
        return [_point(t, t, v, value_type) for t, v in sorted(samples, key=lambda s: s[0], reverse=True)]
    buckets: dict[int, list[Any]] = {}
    for t, v in samples:
        # Period k holds (end - (k+1)p, end - kp]: a sample at end - p closes period 1.
        index = int((end - t).total_seconds() // period)
        buckets.setdefault(index, []).append(v)
    points = []
    for index in sorted(buckets):  # 0 is the newest period: newest first, as the API sends them
        p_end = end - dt.timedelta(seconds=period * index)
        p_start = p_end - dt.timedelta(seconds=period)
        value, out_type = _aggregate(aligner, buckets[index], value_type, period)
        gauge = series["metricKind"] == "GAUGE" or aligner not in ("ALIGN_DELTA", "ALIGN_SUM")
        points.append(_point(p_end if gauge else p_start, p_end, value, out_type))
    return points


def _aggregate(aligner: str, values: list[Any], value_type: str, period: int) -> tuple[Any, str]:
    if value_type == "DISTRIBUTION":
        flat = [float(x) for v in values for x in (v if isinstance(v, list) else [v])]
        percentile = _PERCENTILE.match(aligner)
        if percentile:
            return _rank(flat, int(percentile.group(1))), "DOUBLE"
        if aligner == "ALIGN_MEAN":
            return (sum(flat) / len(flat) if flat else 0.0), "DOUBLE"
        return flat, "DISTRIBUTION"  # ALIGN_DELTA, ALIGN_SUM
    numbers = [float(v) for v in values]
    if aligner == "ALIGN_MAX":
        return max(numbers), value_type
    if aligner == "ALIGN_MIN":
        return min(numbers), value_type
    if aligner == "ALIGN_MEAN":
        return sum(numbers) / len(numbers), "DOUBLE"
    if aligner == "ALIGN_RATE":
        return sum(numbers) / period, "DOUBLE"
    return sum(numbers), value_type  # ALIGN_DELTA, ALIGN_SUM


def _rank(values: list[float], rank: int) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(rank / 100 * len(ordered)) - 1))]


def _point(start: dt.datetime, end: dt.datetime, value: Any, value_type: str) -> dict[str, Any]:
    return {"interval": {"startTime": _rfc3339(start), "endTime": _rfc3339(end)}, "value": _typed(value, value_type)}


def _typed(value: Any, value_type: str) -> dict[str, Any]:
    if value_type == "INT64":
        return {"int64Value": str(int(round(value)))}  # int64 is a string in JSON
    if value_type == "DOUBLE":
        return {"doubleValue": float(value)}
    flat = [float(x) for x in value]
    mean = sum(flat) / len(flat) if flat else 0.0
    return {"distributionValue": {"count": str(len(flat)), "mean": mean,
                                  "sumOfSquaredDeviation": sum((x - mean) ** 2 for x in flat)}}


def _header(series: Mapping[str, Any], aligner: str) -> dict[str, Any]:
    value_type = series["valueType"]
    kind = series["metricKind"]
    if aligner in ("ALIGN_RATE", "ALIGN_MEAN") or _PERCENTILE.match(aligner):
        value_type = "DOUBLE"
    if aligner not in ("ALIGN_NONE", "ALIGN_DELTA", "ALIGN_SUM"):
        kind = "GAUGE"
    header = {"metric": series["metric"], "resource": series["resource"], "metricKind": kind, "valueType": value_type}
    if series.get("unit"):
        header["unit"] = "1" if aligner == "ALIGN_RATE" and series["unit"] == "1" else series["unit"]
    return header


def _label(series: Mapping[str, Any], field: str) -> tuple[str, str, Any]:
    scope, _, name = field.partition(".labels.")
    return scope, name, (series.get(scope, {}).get("labels") or {}).get(name)


def _reduce(aligned: list[dict[str, Any]], reducer: str, group_by: Sequence[str]) -> list[dict[str, Any]]:
    if reducer not in ("REDUCE_SUM", "REDUCE_MAX", "REDUCE_MIN", "REDUCE_MEAN"):
        raise BadRequest(f"Field aggregation.crossSeriesReducer had an invalid value of \"{reducer}\".")
    for field in group_by:
        if not re.fullmatch(r"(?:metric|resource)\.labels?\.[A-Za-z_][A-Za-z0-9_]*", field):
            raise BadRequest(f"Field aggregation.groupByFields had an invalid value of \"{field}\".")
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for series in aligned:
        groups.setdefault(tuple(_label(series, f.replace(".label.", ".labels.")) for f in group_by), []).append(series)
    out = []
    for key, members in groups.items():
        by_end: dict[str, list[float]] = {}
        for series in members:
            for point in series["points"]:
                value = point["value"]
                number = float(value.get("int64Value", value.get("doubleValue", 0)))
                by_end.setdefault(point["interval"]["endTime"], []).append(number)
        first = members[0]
        value_type = first["valueType"] if reducer != "REDUCE_MEAN" else "DOUBLE"
        combine = {"REDUCE_SUM": sum, "REDUCE_MAX": max, "REDUCE_MIN": min,
                   "REDUCE_MEAN": lambda xs: sum(xs) / len(xs)}[reducer]
        starts = {p["interval"]["endTime"]: p["interval"]["startTime"] for s in members for p in s["points"]}
        points = [{"interval": {"startTime": starts[e], "endTime": e}, "value": _typed(combine(v), value_type)}
                  for e, v in sorted(by_end.items(), reverse=True)]
        metric_labels = {name: v for scope, name, v in key if scope == "metric" and v is not None}
        resource_labels = {name: v for scope, name, v in key if scope == "resource" and v is not None}
        metric = {"type": first["metric"]["type"]} | ({"labels": metric_labels} if metric_labels else {})
        resource = {"type": first["resource"]["type"], "labels": resource_labels}
        reduced = {"metric": metric, "resource": resource, "metricKind": first["metricKind"],
                   "valueType": value_type, "points": points}
        if first.get("unit"):
            reduced["unit"] = first["unit"]
        out.append(reduced)
    return out


def _rfc3339(when: dt.datetime) -> str:
    return when.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
