"""The catalog's metrics queries (`monitoring timeseries --project=P --metric=... --window=30m ...`):
their grammar, checked when the catalog loads; runner/metrics.py reads them from Cloud Monitoring."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import time
from collections.abc import Sequence

QUERY = ("monitoring", "timeseries")  # argv[:2] of a metrics query in the catalog
_DURATION = re.compile(r"^([1-9][0-9]*)([smhd])$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_FLAGS = {"--project", "--metric", "--resource", "--where", "--window", "--aligner", "--period",
          "--reducer", "--group-by"}
_PAGE_SIZE = 10000


class QueryError(ValueError):
    """A metrics query in the catalog that does not parse (a catalog error, named at load time)."""


def seconds(text: str) -> int:
    """'30m' -> 1800; ValueError for anything that is not a whole number of s, m, h or d."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"'{text}' is not a duration like 30m, 1h or 7d")
    return int(match.group(1)) * _SECONDS[match.group(2)]


@dataclasses.dataclass(frozen=True)
class Query:
    """One `projects.timeSeries.list` call: what it selects, over which window, aligned how."""

    project: str
    metric: str
    resource: str
    where: tuple[tuple[str, str], ...]
    window_s: int
    window: str  # as written (30m, 7d): what a person reads
    aligner: str
    period_s: int
    reducer: str = ""
    group_by: tuple[str, ...] = ()

    @property
    def filter(self) -> str:
        parts = [f'metric.type = "{self.metric}"', f'resource.type = "{self.resource}"']
        parts += [f'{key} = "{value}"' for key, value in self.where]
        return " AND ".join(parts)

    def params(self, end: dt.datetime) -> list[tuple[str, str]]:
        start = end - dt.timedelta(seconds=self.window_s)
        params = [
            ("filter", self.filter),
            ("interval.startTime", _rfc3339(start)),
            ("interval.endTime", _rfc3339(end)),
            ("aggregation.alignmentPeriod", f"{self.period_s}s"),
            ("aggregation.perSeriesAligner", self.aligner),
        ]
        if self.reducer:
            params.append(("aggregation.crossSeriesReducer", self.reducer))
            params += [("aggregation.groupByFields", field) for field in self.group_by]
        return params + [("pageSize", str(_PAGE_SIZE))]

    def describe(self) -> str:
        """The REST call as a person reads it (`infracheck list`, `explain`)."""
        text = (f"GET v3/projects/{self.project}/timeSeries  filter: {self.filter}  "
                f"window: last {self.window}  aligner: {self.aligner} per {self.period_s}s")
        if self.reducer:
            text += f"  reducer: {self.reducer}" + (f" by {', '.join(self.group_by)}" if self.group_by else "")
        return text


def parse(argv: Sequence[str]) -> Query:
    """A catalog query's argv -> Query; QueryError names what is wrong."""
    if tuple(argv[:2]) != QUERY:
        raise QueryError("a metrics query starts with 'monitoring timeseries'")
    values: dict[str, list[str]] = {}
    for token in argv[2:]:
        name, sep, value = token.partition("=")
        if name not in _FLAGS or not sep or not value:
            raise QueryError(f"'{token}' is not one of {', '.join(sorted(f + '=...' for f in _FLAGS))}")
        values.setdefault(name, []).append(value)
    for required in ("--project", "--metric", "--resource", "--window", "--aligner", "--period"):
        if required not in values:
            raise QueryError(f"a metrics query needs {required}=...")
    single = {k: v[-1] for k, v in values.items()}
    where = []
    for clause in values.get("--where", []):
        key, sep, value = clause.partition("=")
        if not sep or not re.fullmatch(r"(?:resource|metric)\.labels\.[a-z_]+", key) or '"' in value:
            raise QueryError(f"--where={clause}: expected resource.labels.NAME=VALUE or metric.labels.NAME=VALUE")
        where.append((key, value))
    try:
        window_s, period_s = seconds(single["--window"]), seconds(single["--period"])
    except ValueError as exc:
        raise QueryError(str(exc)) from None
    for name in ("--aligner", "--reducer"):
        if name in single and not re.fullmatch(r"(?:ALIGN|REDUCE)_[A-Z0-9_]+", single[name]):
            raise QueryError(f"{name}={single[name]}: expected an enum like ALIGN_MAX or REDUCE_SUM")
    return Query(
        project=single["--project"], metric=single["--metric"], resource=single["--resource"],
        where=tuple(where), window_s=window_s, window=single["--window"], aligner=single["--aligner"],
        period_s=period_s, reducer=single.get("--reducer", ""), group_by=tuple(values.get("--group-by", [])),
    )


def describe(argv: Sequence[str]) -> str:
    """How `list` shows a source: the REST call for a metrics query, else the command line."""
    import shlex

    if tuple(argv[:2]) == QUERY:
        try:
            return parse(argv).describe()
        except QueryError:
            pass
    return shlex.join(argv)


# --- gcloud's identity and settings -------------------------------------------------------------


def _rfc3339(when: dt.datetime) -> str:
    return when.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
