"""GitHub Actions workflow commands: one annotation per finding, then the verdict.

`::error title=T::message` for a critical failure, `::warning` for a
warning or a check that could not run, one `::notice` with the verdict.
GitHub reads these lines from the step's stdout; the CLI also appends the
Markdown update to $GITHUB_STEP_SUMMARY when it is set.

Escaping follows the runner's own (actions/toolkit command.ts): in the
message `%`, `\\r`, `\\n` become `%25`, `%0D`, `%0A`; in a property value
`:` and `,` too, as `%3A` and `%2C`. Without that, a message holding `::`
or a newline could end the command early or start a forged one.
"""

from __future__ import annotations

from infracheck.judge import verdict
from infracheck.model import Finding, Report, Severity, Status


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(name: str, message: str, **properties: str) -> str:
    props = ",".join(f"{key}={escape_property(value)}" for key, value in properties.items() if value)
    return f"::{name}{' ' + props if props else ''}::{escape_data(message)}"


def render(report: Report, *, color: bool = False, ascii_only: bool = False) -> str:
    # A muted failure is accepted: no annotation (its count is in the notice).
    lines = [_annotation(f) for f in report.findings
             if verdict.open_problem(f)]
    c = verdict.counts(report.findings)
    hidden = verdict.muted(c)
    summary = (f"{report.status.name}{', ' + hidden if hidden else ''}: {c['critical']} critical, "
               f"{c['warning']} warning, {c['error']} could not check, "
               f"{c['passed']} passed in {report.project} ({report.region})")
    if report.incomplete:
        summary += " - interrupted"
    lines.append(command("notice", summary, title="infracheck"))
    return "\n".join(lines) + "\n"


def _annotation(f: Finding) -> str:
    if f.status is Status.ERROR:
        name, kind = "warning", "could not check"
    elif f.severity is Severity.CRITICAL:
        name, kind = "error", "critical"
    else:
        name, kind = "warning", "warning"
    message = f.message + (f"\nfix: {f.remedy}" if f.remedy else "")
    return command(name, message, title=f"infracheck {kind}: {f.rule} ({f.resource})")
