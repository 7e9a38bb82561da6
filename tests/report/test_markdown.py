"""The issue update parses as the document we mean, with a real CommonMark parser (markdown-it-py)."""

from __future__ import annotations

import re
import shlex

import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token

from infracheck.model import Status
from infracheck.report import markdown
from tests.report.sample import CRIT, WARN, default_catalog, finding, report

# GitHub's dialect: CommonMark plus tables and strikethrough (task lists are list items starting "[ ]").
PARSER = MarkdownIt("commonmark").enable(["table", "strikethrough"])


def parse(text: str) -> list[Token]:
    return PARSER.parse(text)


def plain(inline: Token) -> str:
    """The text a reader sees: code spans and escapes resolved."""
    return "".join(c.content for c in inline.children or () if c.type in ("text", "code_inline"))


def headings(tokens: list[Token], level: int) -> list[str]:
    return [plain(tokens[i + 1]) for i, t in enumerate(tokens) if t.type == "heading_open" and t.tag == f"h{level}"]


def checklist(tokens: list[Token]) -> list[tuple[bool, str]]:
    """(ticked, text) of every list item whose paragraph starts with a task box."""
    items = []
    for i, t in enumerate(tokens):
        if t.type == "list_item_open" and tokens[i + 2].type == "inline":
            m = re.match(r"\[([ x])\] (.*)", plain(tokens[i + 2]), re.S)
            if m:
                items.append((m.group(1) == "x", m.group(2)))
    return items


def fences(tokens: list[Token]) -> list[Token]:
    return [t for t in tokens if t.type == "fence"]


def tables(tokens: list[Token]) -> list[list[list[str]]]:
    """Every table as rows of cell texts (header row first)."""
    out: list[list[list[str]]] = []
    row: list[str] = []
    for i, t in enumerate(tokens):
        if t.type == "table_open":
            out.append([])
        elif t.type == "tr_open":
            row = []
        elif t.type in ("th_open", "td_open"):
            row.append(plain(tokens[i + 1]))
        elif t.type == "tr_close":
            out[-1].append(row)
    return out


OUTAGE = report(
    finding("vpc.state", *CRIT, message="VPC connector state is 'CREATING', expected 'READY'", remedy="wait"),
    finding("vpc.min-instances", *WARN, message="Min instances is 1, should be at least 2"),
    finding("cloudsql.state", *CRIT, message="Cloud SQL instance state is 'MAINTENANCE', expected 'RUNNABLE'"),
    finding("secrets.secret.exists", *CRIT, resource="database-url", message="Secret 'database-url' is missing"),
    finding("loadbalancer.hc-timeout"),
    finding("network.health-status"),
)


def test_structure_of_the_plans_update():
    text = markdown.render(OUTAGE)
    tokens = parse(text)
    assert headings(tokens, 2) == ["🚨 P0 INFRASTRUCTURE ESCALATION - Issue #1278 - staging: CRITICAL"]
    assert headings(tokens, 3) == [
        "Root Cause Analysis", "Components", "Infrastructure Team Action Items", "Expected Resolution Timeline",
        "Validation Criteria (plan 5.3)", "Next Steps", "Business Justification", "Commands infracheck ran",
    ]
    assert headings(tokens, 4) == [
        "1. VPC Connector staging-connector", "2. Cloud SQL Instance netra-staging-db", "3. Secret Manager Secrets",
        "4. Cloud Run Services netra-backend-staging, auth-staging", "5. Load Balancer", "6. Reachability",
        "7. Application Logs netra-backend-staging, auth-staging", "8. Golden Path Journey",
        "9. Load (Cloud Monitoring)", "10. Monitoring (uptime checks, alert policies)",
    ]
    assert "**Priority:** P0 CRITICAL" in text
    assert "`staging-outage`" in text and "`vpc-connector`" in text and "`database-connectivity`" in text


def test_hidden_marker_names_project_and_tool_and_renders_nothing():
    tokens = parse(markdown.render(OUTAGE))
    assert tokens[0].type == "html_block"
    assert tokens[0].content.strip() == "<!-- infracheck:issue-update project=netra-staging -->"
    assert [t for t in tokens if t.type.startswith("html")] == [tokens[0]]


def test_components_table():
    table, timeline = tables(parse(markdown.render(OUTAGE)))
    assert table[0] == ["Component", "Status", "Problems", "Checked"]
    # The plan's Expected Resolution Timeline (4.1) is a real table too, its total last.
    assert timeline[0] == ["Phase", "Duration", "Responsibility", "Status"]
    assert timeline[-1] == ["Total", "5 hours", "Joint effort", "4 hours left"]
    rows = {r[0]: r[1:] for r in table[1:]}
    assert rows["VPC Connector"] == ["🔴 CRITICAL", "2", "2"]
    assert rows["Cloud SQL Instance"] == ["🔴 CRITICAL", "1", "1"]
    assert rows["Load Balancer"] == ["🟢 OK", "0", "1"]
    assert rows["Cloud Run Services"] == ["⚪ NOT CHECKED", "0", "0"]


def test_every_code_block_is_a_command_infracheck_ran():
    tokens = parse(markdown.render(OUTAGE))
    blocks = fences(tokens)
    ran = {shlex.join(o.argv) for o in OUTAGE.outcomes}  # as a person pastes it (the logs filter is quoted)
    assert all(b.info == "bash" for b in blocks)
    lines = [line for b in blocks for line in b.content.splitlines()]
    assert lines and all(line.startswith("gcloud ") and line in ran for line in lines)
    # The VPC item quotes the corrected command: --region is required, --format=json as run.
    vpc = blocks[0].content
    assert vpc == ("gcloud compute networks vpc-access connectors describe staging-connector "
                   "--region=us-central1 --project=netra-staging --format=json\n")
    # The last block lists every gcloud command of the run, each once.
    assert blocks[-1].content.splitlines() == [shlex.join(o.argv) for o in OUTAGE.outcomes if o.argv[0] == "gcloud"]


def test_checklist_ticked_from_the_run():
    items = dict((text.split(" - ")[0], ticked) for ticked, text in checklist(parse(markdown.render(OUTAGE))))
    assert len(items) == len(default_catalog().escalation.criteria) == 14
    assert items['All diagnostic scripts pass with "HEALTHY" status'] is False
    assert items['VPC connector in "READY" state with adequate capacity'] is False
    assert items["Load balancer health checks configured for extended startup"] is True
    assert items["All health endpoints return 200 OK within 10 seconds"] is True
    assert items["Golden Path user flow functional (login → AI response)"] is False


def test_unverifiable_items_stay_unticked_and_say_why_even_when_healthy():
    cat = default_catalog()
    healthy = report(*[finding(r.id, check=c.id, resource=c.resource) for c in cat.checks for r in c.rules])
    assert healthy.status.name == "HEALTHY"
    items = checklist(parse(markdown.render(healthy)))
    ticked = {text.split(" - ")[0] for ok, text in items if ok}
    assert ticked == {
        'All diagnostic scripts pass with "HEALTHY" status', 'VPC connector in "READY" state with adequate capacity',
        'Cloud SQL instance "RUNNABLE" with private IP connectivity', "All required secrets validated in Secret Manager",
        "Load balancer health checks configured for extended startup",
        "All health endpoints return 200 OK within 10 seconds", "No CRITICAL errors in application logs",
    }
    why = {text.split(" - ")[0]: text.split(" - ", 1)[1] for ok, text in items if not ok}
    assert why["Database connectivity under 35 seconds consistently"].startswith("no Google API reports it")
    assert why["Test suite passing without infrastructure failures"] == (
        "infracheck does not run the application's test suite")


def test_a_check_that_could_not_run_never_ticks_its_item():
    r = report(finding("vpc.state", Status.ERROR, message="VPC connector staging-connector: permission denied"))
    items = dict((t.split(" - ")[0], (ok, t)) for ok, t in checklist(parse(markdown.render(r))))
    ok, text = items['VPC connector in "READY" state with adequate capacity']
    assert not ok and "1 could not be checked of 1" in text
    assert "**Status:** COULD NOT CHECK - 1 could not check" in markdown.render(r)


HOSTILE = "```\n| a | b |\n<script>alert(1)</script> <!-- x --> *bold* [link](http://x) `tick` ~~s~~ # h"


@pytest.mark.parametrize("field", ["message", "remedy", "resource"])
def test_text_from_a_finding_cannot_change_the_document(field):
    kwargs = {"message": "m", "remedy": "r", "resource": "staging-connector"}
    kwargs[field] = HOSTILE
    bad = finding("vpc.state", *CRIT, **kwargs)
    clean = finding("vpc.state", *CRIT, message="m", remedy="r")
    shape = [(t.type, t.tag) for t in parse(markdown.render(report(clean)))]
    tokens = parse(markdown.render(report(bad)))
    # Same block structure as with harmless text: no new fence, table row, heading or HTML.
    assert [(t.type, t.tag) for t in tokens] == shape
    inline = [c for t in tokens if t.type == "inline" for c in (t.children or [])]
    assert not [c for c in inline if c.type in ("html_inline", "link_open", "s_open", "em_open")
                and "alert" in str(c.content) + str(c.attrs)]


def test_ascii_only_has_no_emoji():
    text = markdown.render(OUTAGE, ascii_only=True)
    assert text.isascii() or not re.search(r"[\U0001F300-\U0001FAFF\u2600-\u27BF]", text)
    assert "## P0 INFRASTRUCTURE ESCALATION - Issue #1278 - staging: CRITICAL\n" in text


def test_healthy_title_and_no_priority():
    cat = default_catalog()
    healthy = report(*[finding(r.id, check=c.id, resource=c.resource) for c in cat.checks for r in c.rules],
                     issue=None)
    tokens = parse(markdown.render(healthy))
    assert headings(tokens, 2) == ["✅ INFRASTRUCTURE HEALTHY - staging: HEALTHY"]
    assert "**Labels:**" not in markdown.render(healthy)


def test_fence_is_longer_than_any_backticks_inside():
    lines = markdown.fenced(["echo ```x````"])
    assert lines[0] == "`````bash" and lines[-1] == "`````"
    assert markdown.code("a`b") == "``a`b``" and markdown.code("`x") == "`` `x ``"


def _muted(f):
    import dataclasses
    import datetime as dt

    from infracheck.model import Mute

    return dataclasses.replace(f, muted=Mute(rule=f.rule, reason="connector rebuild in progress", owner="infra",
                                             expires=dt.date(2026, 12, 31)))


def test_a_muted_failure_is_shown_but_neither_counted_nor_labelled():
    from infracheck.judge import verdict

    muted = _muted(finding("vpc.state", *CRIT, message="VPC connector state is 'CREATING', expected 'READY'"))
    r = report(muted, finding("cloudsql.ssl", *WARN, message="SSL not required - security risk"))
    r = r.__class__(**{**r.__dict__, "status": verdict.overall(r.findings)})
    text = markdown.render(r)
    tokens = parse(text)
    assert headings(tokens, 2) == ["⚠️ P2 INFRASTRUCTURE WARNINGS - Issue #1278 - staging: WARNING, 1 critical finding muted"]
    assert "vpc-connector" not in text and "`cloud-sql`" in text
    root = text[text.index("### Root Cause Analysis"):text.index("### Components")]
    assert "CREATING" not in root
    assert ("- `staging-connector`: VPC connector state is 'CREATING', expected 'READY' - "
            "muted by infra until 2026-12-31: connector rebuild in progress") in text
    items = dict((t.split(" - ")[0], (ok, t)) for ok, t in checklist(tokens))
    ok, why = items['VPC connector in "READY" state with adequate capacity']
    assert not ok and "1 failed but muted of 1" in why


def test_since_the_last_update():
    from infracheck.model import Changes

    new = finding("cloudsql.state", *CRIT, message="Cloud SQL instance state is 'MAINTENANCE', expected 'RUNNABLE'")
    still = finding("vpc.state", *CRIT, message="VPC connector state is 'CREATING', expected 'READY'")
    resolved = finding("secrets.secret.exists", *CRIT, resource="database-url", message="Secret 'database-url' is missing")
    r = report(new, still)
    r = r.__class__(**{**r.__dict__, "changes": Changes(since="2026-11-27T10:00:00+00:00", new=(new,), still=(still,),
                                                         resolved=(resolved,))})
    text = markdown.render(r)
    assert "Since the last update" in headings(parse(text), 3)
    section = text[text.index("### Since the last update"):text.index("### Root Cause Analysis")]
    assert "1 resolved, 1 new, 1 still failing" in section
    assert section.index("**Resolved:**") < section.index("Secret 'database-url' is missing") < section.index("**New:**")
    assert section.index("**New:**") < section.index("MAINTENANCE") < section.index("**Still failing:**")
    assert "since 2026-11-27T10:00:00+00:00" in section
    assert "### Since the last update" not in markdown.render(report(new))


def test_root_causes_and_the_infrastructure_configuration_split():
    import dataclasses

    from infracheck.model import Category

    root = dataclasses.replace(finding("vpc.state", *CRIT, message="VPC connector state is 'ERROR', expected 'READY'"),
                               category=Category.INFRASTRUCTURE)
    egress = dataclasses.replace(finding("cloudrun.vpc-egress", *CRIT, resource="auth-staging", message="egress"),
                                 category=Category.CONFIGURATION)
    ready = dataclasses.replace(
        finding("cloudrun.ready", *CRIT, resource="netra-backend-staging", message="not Ready"),
        category=Category.INFRASTRUCTURE, caused_by=(("vpc.state", "staging-connector"),))
    text = markdown.render(report(root, egress, ready))
    section = text[text.index("### Root Cause Analysis"):text.index("### Components")]
    assert ("**Root causes: 2** (1 infrastructure, 1 configuration) - 50% infrastructure, 50% configuration."
            in section)
    assert ("1. **infrastructure, critical** - **VPC Connector** `staging-connector`: "
            "VPC connector state is 'ERROR', expected 'READY'") in section
    assert "   - explains 1: `cloudrun.ready` (`netra-backend-staging`)" in section
    assert "2. **configuration, critical** - **Cloud Run Services** `auth-staging`: egress" in section
    assert "not Ready" not in section  # a consequence is not a root
