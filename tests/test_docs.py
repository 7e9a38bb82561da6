"""The documentation: a README that is a front door, docs/ pages it reaches, links that lead somewhere,
and pages generated from what they describe (checks.md from the catalog, results.md by `make bench`).

Read with a CommonMark parser (markdown-it-py), as GitHub renders them: a link inside a code block is
not a link, a `#` line inside a fence is not a heading.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from functools import cache
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
PAGES = [README, *sorted(DOCS.glob("*.md"))]


@cache
def tokens(page: Path) -> tuple[Token, ...]:
    return tuple(MarkdownIt("commonmark").enable("table").parse(page.read_text(encoding="utf-8")))


def slug(heading: Token) -> str:
    """GitHub's anchor for a heading: its text lower-cased, punctuation dropped, spaces made hyphens."""
    text = "".join(child.content for child in heading.children or () if child.type in ("text", "code_inline"))
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


@cache
def anchors(page: Path) -> frozenset[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    all_tokens = tokens(page)
    for i, token in enumerate(all_tokens):
        if token.type == "heading_open":
            base = slug(all_tokens[i + 1])
            n = seen.get(base, 0)
            seen[base] = n + 1
            found.add(base if n == 0 else f"{base}-{n}")  # GitHub numbers a repeated heading
    return frozenset(found)


def links(page: Path) -> list[str]:
    hrefs = []
    for token in tokens(page):
        for child in token.children or ():
            if child.type == "link_open":
                hrefs.append(str(child.attrs["href"]))
    return hrefs


def relative(href: str) -> bool:
    return not urlsplit(href).scheme and not href.startswith("//")


def target(page: Path, href: str) -> tuple[Path, str]:
    """The file and the anchor a relative link on `page` leads to."""
    parts = urlsplit(href)
    file = (page.parent / unquote(parts.path)).resolve() if parts.path else page
    return file, unquote(parts.fragment)


def test_the_readme_is_a_front_door_of_at_most_250_lines() -> None:
    lines = README.read_text(encoding="utf-8").count("\n")
    assert lines <= 250, f"README.md has {lines} lines; move the detail to a docs/ page and link it"


def test_the_readmes_first_code_block_is_the_two_set_up_commands_and_make_runs_them_as_it_says() -> None:
    first = next(t for t in tokens(README) if t.type in ("code_block", "fence"))
    commands = [line.split("#")[0].strip() for line in first.content.splitlines()]
    assert commands == ["make demo", "make test"], first.content
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    # "replay the recorded outage ... no cloud needed" and "the whole test suite", as the README says
    assert re.search(r"^demo:.*\n\t.*infracheck diagnose --replay fixtures/outage", makefile, re.M)
    assert re.search(r"^test:.*\n\t.*-m pytest -q$", makefile, re.M)


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_every_relative_link_leads_to_a_file_and_heading_that_exist(page: Path) -> None:
    broken = []
    for href in filter(relative, links(page)):
        file, anchor = target(page, href)
        if not file.exists():
            broken.append(f"{href}: no file {file.relative_to(ROOT)}")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            broken.append(f"{href}: no heading #{anchor} in {file.relative_to(ROOT)}")
    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)


def test_every_docs_page_is_reachable_from_the_readme() -> None:
    reached, todo = {README.resolve()}, [README.resolve()]
    while todo:
        page = todo.pop()
        for href in filter(relative, links(page)):
            file, _ = target(page, href)
            if file.suffix == ".md" and file.exists() and file not in reached:
                reached.add(file)
                todo.append(file)
    orphans = [p.relative_to(ROOT).as_posix() for p in PAGES if p.resolve() not in reached]
    assert not orphans, f"not reachable from README.md by links: {orphans}"


def list_markdown() -> str:
    """`infracheck list --format markdown` as `make docs` runs it: the built-in profile, no INFRACHECK_*."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("INFRACHECK_")}
    done = subprocess.run([sys.executable, "-m", "infracheck", "list", "--format", "markdown"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and not done.stderr, done.stderr
    return done.stdout


def test_the_checks_page_is_what_list_format_markdown_prints() -> None:
    committed = (DOCS / "checks.md").read_text(encoding="utf-8")
    assert committed == list_markdown(), "docs/checks.md is stale: run `make docs` and commit it"


def test_the_checks_page_gives_every_rule_its_severity_title_and_why_from_the_catalog() -> None:
    from infracheck.catalog import loader

    page = list_markdown()
    rows = {}
    for line in page.splitlines():
        if line.startswith("| `"):
            cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]]
            rows[cells[0].strip("`")] = cells
    for check in loader.load().checks:
        for rule in check.rules:
            assert rule.id in rows, f"{rule.id} is not in the page"
            assert rows[rule.id][1] == rule.severity.name.lower()
            assert rows[rule.id][3] == " ".join(rule.why.split()).replace("|", "\\|"), rule.id
        if check.missing:
            assert f"{check.id}.exists" in rows
    headings = [t for t in tokens_of(page) if t.type == "heading_open" and t.tag == "h2"]
    assert len(headings) == len(loader.load().areas)


def tokens_of(text: str) -> list[Token]:
    return MarkdownIt("commonmark").enable("table").parse(text)


def fleet_result(wall_x: float, cpu_extra: float) -> dict[str, object]:
    """A fleet round as tests/tools/bench.py's fleet_round returns it: 20 targets, fewer for process and the loop."""
    from tests.tools import bench

    def side(targets: int, wall: float, cpu: float) -> dict[str, object]:
        return {"targets": targets, "wall_s": wall, "cpu_s": cpu, "cpu_per_target_s": cpu / targets,
                "requests": 45 * targets}

    one = dict(side(1, 3.0, 3.0), runs=[{"wall_s": w, "cpu_s": 3.0} for w in (2.9, 3.0, 3.4)])
    loop = dict(side(5, 15.5, 15.0), engine="warm", wall_for_fleet_s=62.0, cpu_for_fleet_s=60.0)
    return {"targets": 20, "scenario": "fixtures/api/healthy", "projects": "netra-fleet-01..netra-fleet-20",
            "latency_s": 0.3, "one": one, "warm": side(20, 3.0 * wall_x, 3.0 + 19 * 3.0 * cpu_extra),
            "process": side(2, 30.0, 40.0), "loop": loop, "wall_x": wall_x, "cpu_per_extra_target": cpu_extra,
            "goal_wall_x": bench.FLEET_GOAL_WALL, "goal_cpu_per_extra_target": bench.FLEET_GOAL_CPU,
            "wall_met": wall_x <= bench.FLEET_GOAL_WALL, "cpu_met": cpu_extra <= bench.FLEET_GOAL_CPU,
            "loop_wall_x": 62.0 / (3.0 * wall_x)}


@pytest.mark.parametrize(("wall_x", "cpu_extra", "wall_says", "cpu_says"), [
    (2.5, 0.31, "(goal at most 3x): **met**", "(goal at most 0.25): **not met**"),
    (3.4, 0.2, "(goal at most 3x): **not met**", "(goal at most 0.25): **met**"),
])
def test_the_bench_fleet_round_says_whether_each_goal_is_met(wall_x: float, cpu_extra: float, wall_says: str,
                                                              cpu_says: str) -> None:
    """The fleet round's page section and text name both ratios, each goal met or not, and what ran on fewer."""
    from tests.tools import bench

    fleet = fleet_result(wall_x, cpu_extra)
    section = "\n".join(bench.fleet_section(fleet))
    assert f"20 targets took **{wall_x:.2f}x** the wall time of one {wall_says}" in section
    assert f"cost **{cpu_extra:.2f}** of one run's CPU, (CPU(20) - CPU(1)) / 19 / CPU(1) {cpu_says}" in section
    assert "| 2 | **30.00 s** | **40.00** | 20.00 | 90 | 2 of the 20: about one run's CPU per target |" in section
    assert "sequential: 20 targets ~62 s, ~60 CPU-s (estimated: per target x 20) |" in section
    assert "| **3.00 s** | **3.00** | 3.00 | 45 | median of 3 single runs, spread over the round: wall 2.90-3.40 s |" \
        in section
    text = "\n".join(bench.fleet_lines(fleet))
    assert "--engine process ran on 2 of the 20 targets" in text
    assert f"wall: {wall_x:.2f}x (goal <= 3x): {'met' if wall_x <= 3 else 'NOT met'}" in text
    assert f"one run's CPU: {cpu_extra:.2f} (goal <= 0.25): {'met' if cpu_extra <= 0.25 else 'NOT met'}" in text
    assert "5 of the 20 targets, sequential; 20 would take ~62 s, ~60 CPU-s (estimated: per target x 20)" in text
    fleet["loop"] = dict(fleet["loop"], targets=20)  # type: ignore[arg-type]
    assert "(estimated" not in "\n".join(bench.fleet_section(fleet)) + "\n".join(bench.fleet_lines(fleet))


def test_make_bench_writes_the_results_page_with_when_and_what_it_measured() -> None:
    from tests.tools import bench

    def spread(median: float) -> dict[str, float]:
        return {"median": median, "min": median * 0.9, "max": median * 1.1}

    side = {"gcloud_processes": 23, "gcloud_commands": 23, "requests": 23}
    result = {
        "gcloud_version": "528.0.0", "python": "3.11.9", "cpus": 2, "scenario": "fixtures/api/healthy",
        "replay_dir": "fixtures/healthy", "latency_s": 0.3, "repeat": 3, "jobs": None, "excluded": "network*",
        "warm": dict(side, wall_s=spread(4.12), cpu_s=spread(5.8)),
        "process": dict(side, wall_s=spread(18.4), cpu_s=spread(35.7)),
        "baseline": {"wall_s": spread(55.8), "cpu_s": spread(46.4), "gcloud_processes": 33, "requests": 31,
                     "failed": 4},
        "baseline_skipped": [{}, {}],
        "ratios": {"warm_process_wall": 0.224, "warm_process_cpu": 0.162, "baseline_warm_wall": 13.55,
                   "baseline_process_wall": 3.03},
        "overhead": {f"{key}_s": spread(0.12) for key in ("help", "list", "explain", "replay", "list_cold",
                                                          "replay_cold")},
        "fleet": fleet_result(wall_x=2.5, cpu_extra=0.31),
    }
    page = bench.results_page(result, "2026-12-06 15:00 UTC", "abc1234-dirty")
    assert "2026-12-06 15:00 UTC, commit `abc1234-dirty`, gcloud 528.0.0" in page
    tables = [t for t in tokens_of(page) if t.type == "table_open"]
    assert len(tables) == 3
    assert "| infracheck `--engine warm` | **4.12 s** [3.71-4.53] | **5.80** [5.22-6.38] |" in page
    assert "Medians of 3 rounds" in page and "**0.22** of the wall time" in page
    assert "**13.6x** as long as the warm engine" in page
    assert "| `infracheck --help` | **0.12** [0.11-0.13] | 0.15 |" in page
    # and the committed page is that page: the marker bench writes, linked from the development page
    assert (DOCS / "results.md").read_text(encoding="utf-8").splitlines()[2] == page.splitlines()[2]
