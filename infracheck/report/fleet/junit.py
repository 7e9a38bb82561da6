"""A fleet as JUnit XML: one testsuite per target, one testcase per finding."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any

from infracheck.judge.fleet import Fleet, Member
from infracheck.report.fleet import members


def render(fleet: Fleet, *, color: bool = False, ascii_only: bool = False) -> str:
    """One <testsuite> per target (properties project, region, verdict, not_checked); one case per finding.

    A case's classname is `infracheck.<target>.<area>`, so a CI page that shows
    only class and name still says which target failed; a target that could
    not be checked has an errored `target.checked [<target>]` naming why.
    """
    from infracheck.report.junit import COUNTS, document
    from infracheck.report.junit import _clean as clean

    root = ET.Element("testsuites", name="infracheck fleet")
    total_time = 0.0
    for m in fleet.members:
        suite = ET.SubElement(root, "testsuite", name=clean(m.target.name))
        props = ET.SubElement(suite, "properties")
        for key, value in (("project", m.target.project), ("region", m.target.region), ("verdict", m.status.name),
                           ("not_checked", m.reason or "")):
            if value:
                ET.SubElement(props, "property", name=key, value=clean(value))
        counts = dict.fromkeys(COUNTS, 0)
        for f in members.findings_of(m):
            counted = _case(suite, m, f)
            counts["tests"] += 1
            if counted:
                counts[counted] += 1
        seconds = sum(float(o.get("duration_s") or 0.0) for o in members.report_of(m).get("commands") or ())
        suite.attrib.update({k: str(v) for k, v in counts.items()})
        suite.set("time", f"{seconds:.3f}")
        total_time += seconds
    return document(root, total_time)


def _case(suite: ET.Element, m: Member, f: Mapping[str, Any]) -> str | None:
    """One finding as a testcase of its target's suite; which count it adds to (None: a pass)."""
    from infracheck.report.junit import _clean as clean

    def details(*pairs: tuple[str, str]) -> str:  # junit._details, of a finding read back
        return clean("\n".join([message] + [f"{k}: {v}" for k, v in pairs if v]))

    case = ET.SubElement(suite, "testcase", classname=clean(f"infracheck.{m.target.name}.{f.get('area')}"),
                         name=clean(f"{f.get('rule')} [{f.get('resource')}]"))
    message = str(f.get("message") or "")
    status, mute = f.get("status"), f.get("muted")
    if status == "fail" and mute:
        owner = f" by {mute.get('owner')}" if mute.get("owner") else ""
        ET.SubElement(case, "skipped", message=clean(f"muted {f.get('severity') or 'failed'} finding{owner} until "
                                                     f"{mute.get('expires')}: {mute.get('reason')}"))
        return "skipped"
    if status == "fail":
        actual = f.get("actual")
        node = ET.SubElement(case, "failure", message=clean(message), type=str(f.get("severity") or "failure"))
        node.text = details(("expected", str(f.get("expected") or "")),
                            ("actual", "" if actual is None else json.dumps(actual)),
                            ("fix", str(f.get("remedy") or "")))
        return "failures"
    if status == "error":
        node = ET.SubElement(case, "error", message=clean(message), type="could-not-check")
        node.text = details(("fix", str(f.get("remedy") or "")))
        return "errors"
    if status == "skip":
        ET.SubElement(case, "skipped", message=clean(message or "excluded"))
        return "skipped"
    return None

