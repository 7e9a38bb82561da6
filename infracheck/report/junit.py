"""JUnit XML for CI test reporters: one testsuite per area, one testcase per rule and resource.

There is no single official schema; this is the shape Jenkins (the junit
plugin), GitLab (artifacts:reports:junit) and GitHub test-report actions
read: <testsuites> of <testsuite> of <testcase classname name time>, a
failed rule a <failure message type>, a check that could not run an
<error>, an excluded (or muted) rule <skipped>, and the tests / failures /
errors / skipped attributes counted from the cases themselves.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence

from infracheck.judge import escalation, verdict
from infracheck.model import Finding, Report, Severity, Status


_COUNTED = {Status.FAIL: "failures", Status.ERROR: "errors", Status.SKIP: "skipped"}
COUNTS = ("tests", "failures", "errors", "skipped")  # a suite's and the document's, in this order


def render(report: Report, *, color: bool = False, ascii_only: bool = False) -> str:
    durations = {o.argv: o.duration_s for o in report.outcomes}
    argv_of = {(c.id, c.resource): c.argv for c in report.checks}
    names = {st.component.area: st.component.name for st in escalation.components(report)}

    root = ET.Element("testsuites", name="infracheck")
    total_time = 0.0
    for area in report.areas:
        mine = [f for f in report.findings if f.area == area.id]
        if not mine:
            continue
        suite = ET.SubElement(root, "testsuite", name=names.get(area.id, area.id))
        props = ET.SubElement(suite, "properties")
        for key, value in (("project", report.project), ("region", report.region), ("area", area.id),
                           ("issue", report.issue or "")):
            if value:
                ET.SubElement(props, "property", name=key, value=value)
        counts = dict.fromkeys(COUNTS, 0)
        for f in mine:
            argv = argv_of.get((f.check, f.resource))
            _case(suite, f, durations.get(argv, 0.0) if argv else 0.0)
            counts["tests"] += 1
            counted = "skipped" if verdict.muted_failure(f) else _COUNTED.get(f.status)
            if counted:
                counts[counted] += 1
        area_argvs = {argv_of[(f.check, f.resource)] for f in mine if (f.check, f.resource) in argv_of}
        area_time = sum(durations.get(a, 0.0) for a in area_argvs)
        muted = [f for f in mine if verdict.muted_failure(f)]
        if muted:  # CI shows them as skipped: say how many failures that is, and how many critical
            ET.SubElement(props, "property", name="muted", value=str(len(muted)))
            ET.SubElement(props, "property", name="muted_critical",
                          value=str(sum(1 for f in muted if f.severity is Severity.CRITICAL)))
        suite.attrib.update({k: str(v) for k, v in counts.items()})
        suite.set("time", f"{area_time:.3f}")
        total_time += area_time
    return document(root, total_time)


def document(root: ET.Element, seconds: float) -> str:
    """The XML text of <testsuites> `root`, its counts the sums of its suites' (`seconds`: their time)."""
    for key in COUNTS:
        root.set(key, str(sum(int(suite.get(key, "0")) for suite in root.iter("testsuite"))))
    root.set("time", f"{seconds:.3f}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _case(suite: ET.Element, f: Finding, seconds: float) -> None:
    case = ET.SubElement(suite, "testcase", classname=f"infracheck.{f.area}",
                         name=_clean(f"{f.rule} [{f.resource}]"), time=f"{seconds:.3f}")
    m = f.muted
    if m is not None and verdict.muted_failure(f):
        # Accepted for now: CI must not fail on it, but the reason stays visible.
        owner = f" by {m.owner}" if m.owner else ""
        severity = f.severity.name.lower() if f.severity else "failed"
        ET.SubElement(case, "skipped", message=_clean(f"muted {severity} finding{owner} until "
                                                      f"{m.expires.isoformat()}: {m.reason}"))
    elif f.status is Status.FAIL:
        severity = f.severity.name.lower() if f.severity else "failure"
        node = ET.SubElement(case, "failure", message=_clean(f.message), type=severity)
        node.text = _details(f, ("expected", f.expected), ("actual", _actual(f.actual)), ("fix", f.remedy))
    elif f.status is Status.ERROR:
        node = ET.SubElement(case, "error", message=_clean(f.message), type="could-not-check")
        node.text = _details(f, ("fix", f.remedy))
    elif f.status is Status.SKIP:
        ET.SubElement(case, "skipped", message=_clean(f.message or "excluded"))


def _details(f: Finding, *pairs: tuple[str, str]) -> str:
    lines: Sequence[str] = [f.message] + [f"{k}: {v}" for k, v in pairs if v]
    return _clean("\n".join(lines))


def _actual(value: object) -> str:
    return "" if value is None else json.dumps(value)


# XML 1.0 cannot carry most control characters at all, not even escaped.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _clean(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)
