"""The escalation clock (plan 5.1, 5.2 and 4.1's timeline), kept by `watch --escalation-dir`.

`Clock.observe` reads each watch cycle and says what is due, as Events:
the stakeholder message and the issue update when an outage is first seen
(5.1: "send stakeholder communication immediately"), a note when the verdict
or a phase changes, the extended-escalation message once when the verdict is
still not HEALTHY `[extended] after_hours` after the start (5.2), and on
recovery (the first HEALTHY verdict) a resolution summary with the measured
time of each phase of the timeline, for the post-mortem.

How a phase is measured, from what watch sees and nothing else:
- the clock starts when the watch starts (or, for a relapse, at the last
  HEALTHY cycle): infracheck cannot see when the outage itself began;
- a phase with done_when = "verdict" (validation) ends at the first verdict;
- a phase with `passing` globs ends at the first cycle, once every earlier
  phase it could measure has ended, in which every finding its globs match
  was evaluated and none is a problem (a failure nobody muted, a check that
  could not run); it starts where the phase before it ended;
- a phase none of whose findings was ever evaluated (its area excluded, not
  configured) is "not observed", never a guessed time;
- every time is a cycle's end: exact to one --interval.
Nothing here writes or starts a process: `deliver` (below) does, through
output.write and hook.run.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import shlex
from collections.abc import Callable, Sequence
from pathlib import Path

from infracheck.judge import escalation, verdict
from infracheck.model import CannotRun, Cycle, Escalation, Finding, Overall, Phase, Report, Status


@dataclasses.dataclass(frozen=True)
class PhaseTime:
    """One phase as the clock measured it; start and end are None when it was not observed."""

    phase: Phase
    start: dt.datetime | None
    end: dt.datetime | None
    note: str  # how it was measured, or why it was not

    @property
    def seconds(self) -> float | None:
        return None if self.start is None or self.end is None else (self.end - self.start).total_seconds()


@dataclasses.dataclass(frozen=True)
class Event:
    """Something the clock says: a line for stderr and the files to write (the first is the hook's)."""

    kind: str  # "start", "change", "extended", "resolved"
    at: dt.datetime
    status: Overall
    line: str
    files: tuple[tuple[str, str], ...]  # (file name, content); content is not yet scrubbed


class Clock:
    """Watches cycles for the incident's milestones; one instance per watch."""

    def __init__(self, started: dt.datetime, interval: float) -> None:
        self.started = started.replace(microsecond=0)  # as a cycle's time is written: whole seconds
        self.interval = interval
        self.stamp = started.strftime("%Y%m%dT%H%M%SZ")
        self._count = 0  # files written so far: their names keep their order
        self._last_healthy: dt.datetime | None = None
        self._previous: Overall | None = None
        self._opened: dt.datetime | None = None
        self._ends: list[dt.datetime | None] = []
        self._verdicts: list[tuple[dt.datetime, Overall]] = []
        self._extended_at: dt.datetime | None = None
        self._cycles = 0
        self._timeline: tuple[Phase, ...] = ()

    # --- observing ---------------------------------------------------------

    def observe(self, cycle: Cycle) -> list[Event]:
        report, at = cycle.report, _time(cycle.at)
        esc = report.escalation or Escalation()
        events: list[Event] = []
        if self._opened is None:
            if report.status is Overall.HEALTHY:
                if self._previous is None:
                    events.append(Event("healthy", at, report.status, "escalation clock: HEALTHY at the first "
                                        "verdict, no outage to escalate (the clock starts if that changes)", ()))
                self._last_healthy, self._previous = at, report.status
                return events
            self._open(at, esc)
            self._cycles = 1
            self._verdicts.append((at, report.status))
            self._advance(report, at, esc)
            events.append(self._start(report, at))
        else:
            self._cycles += 1
            ended = self._advance(report, at, esc)
            changed = report.status is not self._previous
            if changed:
                self._verdicts.append((at, report.status))
            if report.status is Overall.HEALTHY:
                events.append(self._resolved(report, at, esc))
                self._close(at)
                return events
            if changed or ended:
                events.append(self._change(report, at, esc, ended))
        self._previous = report.status
        ext = esc.extended
        if ext is not None and self._extended_at is None and self._elapsed(at) >= ext.after_hours * 3600:
            self._extended_at = at
            events.append(self._extended(report, at, esc))
        return events

    def _open(self, at: dt.datetime, esc: Escalation) -> None:
        # A relapse began after the last HEALTHY look; the first outage at the watch's start at the latest.
        self._opened = self._last_healthy or self.started
        self._timeline = esc.timeline
        self._ends = [None] * len(esc.timeline)
        self._verdicts = []
        self._extended_at = None

    def _close(self, at: dt.datetime) -> None:
        self._opened, self._last_healthy, self._previous = None, at, Overall.HEALTHY

    def _elapsed(self, at: dt.datetime) -> float:
        return (at - self._opened).total_seconds() if self._opened else 0.0

    def _advance(self, report: Report, at: dt.datetime, esc: Escalation) -> list[Phase]:
        """End each phase this cycle completes, in order; return the phases that ended now."""
        ended = []
        for i, phase in enumerate(esc.timeline):
            if self._ends[i] is not None:
                continue
            if phase.done_when == "verdict":
                self._ends[i] = at
                ended.append(phase)
                continue
            mine = _evaluated(report, phase)
            if not mine:
                continue  # nothing of it in this run: it cannot hold later phases back, nor end
            if any(verdict.open_problem(f) for f in mine):
                break  # still failing: the phases after it have not started
            self._ends[i] = at
            ended.append(phase)
        return ended

    def phases(self) -> list[PhaseTime]:
        """The timeline as measured so far: ended phases with their start and end, the others why not."""
        result, start = [], self._opened
        for phase, end in zip(self._timeline, self._ends):
            if end is None:
                why = ("not observed: no finding of its areas was evaluated" if phase.passing
                       else "not observed: the timeline gives no `passing` to measure it by"
                       if phase.done_when != "verdict" else "not observed")
                result.append(PhaseTime(phase, None, None, why))
                continue
            assert start is not None
            if phase.done_when == "verdict":
                note = "from the start to the first verdict"
            elif end == start:
                note = "already passing when the phase before it ended"
            else:
                note = f"until every {', '.join(phase.passing)} finding passed"
            result.append(PhaseTime(phase, start, end, note))
            start = end
        return result

    # --- what each event says ----------------------------------------------

    def _name(self, stem: str) -> str:
        self._count += 1
        return f"{self.stamp}-{self._count:02d}-{stem}"

    def _start(self, report: Report, at: dt.datetime) -> Event:
        from infracheck.report import FORMATTERS

        update = self._name("start-issue-update.md")
        message = self._name("start-message.txt")
        return Event("start", at, report.status,
                     f"escalation clock: {report.status.name} at the first verdict ({_clock(at)}); "
                     "the stakeholder message and the issue update are due now (plan 5.1)",
                     ((update, FORMATTERS["markdown"](report, color=False, ascii_only=False)),
                      (message, FORMATTERS["message"](report, color=False, ascii_only=False))))

    def _change(self, report: Report, at: dt.datetime, esc: Escalation, ended: Sequence[Phase]) -> Event:
        from infracheck.report import FORMATTERS

        was = self._previous.name if self._previous else "?"
        what = [f"verdict {report.status.name} (was {was})" if report.status is not self._previous else
                f"verdict still {report.status.name}"]
        what += [f"{p.short} ended" for p in ended]
        head = (f"## Escalation clock: {'; '.join(what)}\n\n"
                f"At {_clock(at)}, {_duration(self._elapsed(at))} after the start ({_clock(self._opened)}).\n\n"
                + "\n".join(self._table(at)) + "\n\n---\n\n")
        return Event("change", at, report.status, f"escalation clock: {'; '.join(what)}",
                     ((self._name("change.md"), head + FORMATTERS["markdown"](report, color=False,
                                                                              ascii_only=False)),))

    def _extended(self, report: Report, at: dt.datetime, esc: Escalation) -> Event:
        from infracheck.judge import causes

        ext = esc.extended
        assert ext is not None and self._opened is not None
        prio = escalation.priority(report)
        env = esc.environment
        issue = f"Issue #{report.issue} " if report.issue else ""
        where = f"{env} environment" if env else f"project {report.project}"
        after = escalation.hours(ext.after_hours)
        lines = [f"Subject: {' '.join(p for p in (prio, 'Extended Escalation -', issue + where) if p)} "
                 f"not HEALTHY after {after} ({report.status.name})"]
        if ext.recipients:
            lines.append(f"To: {', '.join(ext.recipients)}")
        lines += ["", f"EXTENDED ESCALATION (plan 5.2): not resolved within {after}.",
                  f"- Open since {_clock(self._opened)} ({_duration(self._elapsed(at))}); "
                  f"status now {report.status.name}"]
        if esc.business_impact:
            lines.append(f"- Business impact: {_one_line(esc.business_impact)}")
        lines += ["", "ACTIONS:"] + [f"{i}. {_one_line(a)}" for i, a in enumerate(ext.actions, 1)]
        roots = list(causes.root_causes(report.findings))
        still = [r.finding for r in roots] or [f for f in report.findings if verdict.open_problem(f)]
        lines += ["", "STILL FAILING:"]
        lines += [f"- {f.resource}: {_one_line(f.message)}" for f in still[:5]] or ["- (nothing named)"]
        if len(still) > 5:
            lines.append(f"... and {len(still) - 5} more (see the issue update)")
        lines += ["", "TIMELINE SO FAR (measured by infracheck watch):"]
        lines += [f"- {row}" for row in self._plain(at)]
        return Event("extended", at, report.status,
                     f"escalation clock: still {report.status.name} {_duration(self._elapsed(at))} after the start; "
                     f"the extended escalation is due (plan 5.2)",
                     ((self._name("extended-escalation.txt"), "\n".join(lines) + "\n"),))

    def _resolved(self, report: Report, at: dt.datetime, esc: Escalation) -> Event:
        from infracheck.report.markdown import escape

        assert self._opened is not None
        phases = self.phases()
        first = self._verdicts[0][1].name if self._verdicts else "?"
        env = esc.environment
        issue = f"issue #{report.issue}, " if report.issue else ""
        where = f"{env} environment" if env else f"project {report.project}"
        planned = sum(p.hours for p in esc.timeline)
        total = self._elapsed(at)
        out = [f"## Resolution summary: {escape(issue + where)}", "",
               f"**Status:** HEALTHY at {_clock(at)} (was {first} at the first verdict)",
               f"**Clock:** {_duration(total)} from {_clock(self._opened)} to the first HEALTHY verdict"
               + (f"; the plan expected {escalation.hours(planned)}" if planned else "")]
        if esc.extended is not None:
            out.append(f"**Extended escalation:** " + (
                f"due and written at {_clock(self._extended_at)}" if self._extended_at else
                f"not needed (resolved within {escalation.hours(esc.extended.after_hours)})"))
        out += ["", "### Measured timeline", "",
                "| Phase | Plan | Measured | Against plan | From | To | How it was measured |",
                "|---|---|---|---|---|---|---|"]
        for pt in phases:
            seconds = pt.seconds
            if seconds is None:
                out.append(f"| {escape(pt.phase.name)} | {escalation.hours(pt.phase.hours)} | not observed | | | | "
                           f"{escape(pt.note.removeprefix('not observed: '))} |")
                continue
            over = seconds - pt.phase.hours * 3600
            verdict = f"over by {_duration(over)}" if over > 0 else "within"
            out.append(f"| {escape(pt.phase.name)} | {escalation.hours(pt.phase.hours)} | {_duration(seconds)} "
                       f"| {verdict} | {_clock(pt.start)} | {_clock(pt.end)} | {escape(pt.note)} |")
        if planned:
            out.append(f"| **Total** | **{escalation.hours(planned)}** | **{_duration(total)}** | "
                       f"**{'over' if total > planned * 3600 else 'within'}** | {_clock(self._opened)} | "
                       f"{_clock(at)} | the start to the first HEALTHY verdict |")
        out += ["", "### Verdicts", ""]
        out += [f"- {_clock(when)} {status.name}" for when, status in self._verdicts]
        out += ["", f"_Measured by infracheck watch over {self._cycles} cycle(s), every {self.interval:g} s: each "
                "time is a cycle's end, exact to one interval. The clock starts when the watch starts, not "
                "when the outage began, which infracheck cannot see._"]
        return Event("resolved", at, report.status,
                     f"escalation clock: HEALTHY after {_duration(total)}; resolution summary for the post-mortem",
                     ((self._name("resolution.md"), "\n".join(out) + "\n"),))

    def _table(self, at: dt.datetime) -> list[str]:
        from infracheck.report.markdown import escape

        return ["| Phase | Plan | So far |", "|---|---|---|"] + [
            f"| {escape(short)} | {plan} | {escape(state)} |" for short, plan, state in self._rows(at)]

    def _plain(self, at: dt.datetime) -> list[str]:
        return [f"{short}: {plan}, {state}" for short, plan, state in self._rows(at)]

    def _rows(self, at: dt.datetime) -> list[tuple[str, str, str]]:
        """(phase, plan, state) for each phase, ended or not, at this moment."""
        rows: list[tuple[str, str, str]] = []
        start = self._opened
        current = False  # the phase now running has been named: the later ones are ahead
        for phase, end in zip(self._timeline, self._ends):
            plan = f"plan {escalation.hours(phase.hours)}"
            if end is not None and start is not None:
                rows.append((phase.short, plan, f"took {_duration((end - start).total_seconds())}, "
                                                f"ended {_clock(end)}"))
                start = end
            elif not current and start is not None and (phase.passing or phase.done_when == "verdict"):
                current = True
                running = (at - start).total_seconds()
                late = (f", over plan by {_duration(running - phase.hours * 3600)}"
                        if running > phase.hours * 3600 else "")
                rows.append((phase.short, plan, f"running for {_duration(running)} (since {_clock(start)}){late}"))
            else:
                rows.append((phase.short, plan, "ahead" if phase.passing else "not measured"))
        return rows


def _evaluated(report: Report, phase: Phase) -> list[Finding]:
    return [f for f in report.findings
            if f.status is not Status.SKIP and phase.passing and escalation.matches(f, phase.passing)]


def _time(iso: str) -> dt.datetime:
    return dt.datetime.fromisoformat(iso)


def _clock(at: dt.datetime | None) -> str:
    return "?" if at is None else at.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _duration(seconds: float) -> str:
    """75 -> '1 min 15 s', 7500 -> '2 h 5 min'; a cycle's resolution, never more digits."""
    seconds = max(0, round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    if h:
        return f"{h} h {m} min" if m else f"{h} h"
    if m:
        return f"{m} min {s} s" if s and m < 10 else f"{m} min"
    return f"{s} s"


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


# --- delivering ------------------------------------------------------------

def keeper(directory: Path | None, on_change: str | None, timeout: float, interval: float,
           say: Callable[[str], None]) -> Callable[[Cycle, Callable[[str], str]], None] | None:
    """--escalation-dir (and --on-change): a clock fed each watch cycle, writing its events into `directory`
    and running the hook; None without a directory. Every refusal comes before anything runs."""
    import os
    import shlex

    from infracheck.runner import hook

    command: list[str] | None = None
    if on_change is not None:
        if directory is None:
            raise CannotRun("--on-change needs --escalation-dir DIR: the files it is given are written there")
        try:
            command = shlex.split(on_change)
        except ValueError as exc:
            raise CannotRun(f"--on-change: cannot split {on_change!r}: {exc}") from None
        why = hook.check(command)
        if why:
            raise CannotRun(f"--on-change: {why}")
    if directory is None:
        return None
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CannotRun(f"--escalation-dir {directory}: {exc.strerror}") from None
    if not os.access(directory, os.W_OK):
        raise CannotRun(f"--escalation-dir {directory}: not writable")
    clock = Clock(dt.datetime.now(dt.timezone.utc), interval)

    def feed(cycle: Cycle, scrub: Callable[[str], str]) -> None:
        deliver(clock.observe(cycle), directory, command, timeout, scrub, say)

    return feed


def deliver(events: Sequence[Event], directory: Path, on_change: Sequence[str] | None, timeout: float,
            scrub: Callable[[str], str], say: Callable[[str], None]) -> None:
    """Write each event's files (scrubbed, whole), say one line, and run the hook with the first file.

    The hook's failure is said and never stops the watch.
    """
    from infracheck.report import output
    from infracheck.runner import hook

    for event in events:
        paths = []
        for name, content in event.files:
            path = directory / name
            output.write(path, scrub(content))
            paths.append(path)
        where = f": {', '.join(str(p) for p in paths)}" if paths else ""
        say(f"{event.at.strftime('%H:%M:%S')} {event.line}{where}")
        if on_change and paths:
            failure = hook.run((*on_change, str(paths[0])), timeout,
                               {"INFRACHECK_EVENT": event.kind, "INFRACHECK_STATUS": event.status.name})
            if failure:
                say(f"infracheck: --on-change {shlex.join(on_change)} {paths[0]}: {failure} (the watch goes on)")


__all__ = ["Clock", "Event", "PhaseTime", "deliver"]
