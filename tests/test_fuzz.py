"""Property-based: any recorded document, mutated any way, gives a report and never a false PASS.

Takes every recorded document of every scenario (fixtures/<scenario>/*.json),
mutates it (a value swapped for another JSON type, a key dropped, the whole
document replaced, a string truncated, unicode or a huge number injected),
replays the scenario in this process (no gcloud), and asserts for each mutation:

- no traceback and no "internal error" finding, exit code in {0, 1, 2, 3};
- the JSON report parses as strict JSON (no NaN/Infinity a jq would refuse);
- a document lacking a field its check's shape declares required is never
  judged PASS by that check.

`make test` runs the "ci" profile (a bounded number of examples); `make fuzz`
runs "fuzz" (many more). Select a profile with INFRACHECK_FUZZ_PROFILE.
No deadline: a loaded CI machine must not turn slowness into a failure.
"""

from __future__ import annotations

import copy
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infracheck.catalog import loader
from infracheck.runner import recording
from tests.tools.fakes import diagnose_in_process, replay_folder

settings.register_profile("ci", max_examples=40, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("fuzz", max_examples=3000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile(os.environ.get("INFRACHECK_FUZZ_PROFILE", "ci"))

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SCENARIOS = sorted(p for p in FIXTURES.iterdir() if (p / recording.META).is_file())
# (scenario folder, recording file name) of every document a scenario recorded
RECORDED = [(s, p.name) for s in SCENARIOS for p in sorted(s.glob("*.json")) if p.name != recording.META]
CHECKS = loader.load(environ={}).checks

Path_ = tuple[Any, ...]

# --- mutations ---------------------------------------------------------------------------------

JSON_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-2**63, 2**64), st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)
# 10**4200: near Python's 4300-digit int/str limit, so a product or a str() of it can cross it.
HUGE = st.sampled_from([10**400, -(10**400), 2**63, 2**64 + 1, 1e308, -1e308, 5e-324, -0.0, 10**4200])
UNICODE = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=12) | st.sampled_from(
    ["\u202e", "\u0000", "\ud800", "🚀" * 3, "e\u0301", "\ufeffREADY", "ＲＥＡＤＹ", "١٢٣", "READY\n", "𝟙𝟚"])


def _json_type(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return repr(value)
    return {int: "number", float: "number", str: "string", list: "list", dict: "object"}[type(value)]


def _paths(document: Any, prefix: Path_ = ()) -> list[Path_]:
    """Every node of the document, the root first."""
    found = [prefix]
    if isinstance(document, dict):
        for key, value in document.items():
            found += _paths(value, prefix + (key,))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            found += _paths(value, prefix + (index,))
    return found


def _get(document: Any, path: Path_) -> Any:
    for step in path:
        document = document[step]
    return document


def _set(document: Any, path: Path_, value: Any) -> Any:
    if not path:
        return value
    _get(document, path[:-1])[path[-1]] = value
    return document


# Text that is not strict JSON though Python's json reads some of it (NaN, Infinity, 1e999).
NOT_JSON = st.sampled_from(["NaN", "[1e999]", '{"state": Infinity}', "-Infinity", "", "\x00", "{", "[1, 2",
                            '{"a": 1} {"b": 2}', "\ufeff[]", "1" * 5000])


@st.composite
def mutated(draw: st.DrawFn) -> tuple[Path, str, Any, str | None]:
    """(scenario, recording file, mutated document, or the raw text to record instead)."""
    scenario, name = draw(st.sampled_from(RECORDED))
    original = (scenario / name).read_text(encoding="utf-8")
    if draw(st.integers(0, 9)) == 0:  # now and then, a file that is not (strict) JSON
        raw = draw(NOT_JSON | st.integers(0, len(original)).map(lambda n: original[:n]))
        return scenario, name, None, raw
    document = json.loads(original)
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(document)
        path = draw(st.sampled_from(paths))
        current = _get(document, path)
        kind = draw(st.sampled_from(["swap-type", "drop-key", "replace-document", "truncate", "unicode", "huge"]))
        if kind == "swap-type":
            value = draw(JSON_VALUES.filter(lambda v: _json_type(v) != _json_type(current)))
            document = _set(document, path, value)
        elif kind == "drop-key":
            keyed = [p for p in paths if p and isinstance(_get(document, p[:-1]), dict)]
            if keyed:
                victim = draw(st.sampled_from(keyed))
                del _get(document, victim[:-1])[victim[-1]]
        elif kind == "replace-document":
            document = draw(JSON_VALUES.filter(lambda v: _json_type(v) != _json_type(document)))
        elif kind == "truncate":
            strings = [p for p in paths if isinstance(_get(document, p), str)]
            if strings:
                target = draw(st.sampled_from(strings))
                text = _get(document, target)
                document = _set(document, target, text[: draw(st.integers(0, max(0, len(text) - 1)))])
        elif kind == "unicode":
            strings = [p for p in paths if isinstance(_get(document, p), str)] or [path]
            target = draw(st.sampled_from(strings))
            text = _get(document, target)
            injected = draw(UNICODE)
            where = draw(st.sampled_from(["replace", "prefix", "suffix"]))
            if isinstance(text, str) and where != "replace":
                injected = injected + text if where == "prefix" else text + injected
            document = _set(document, target, injected)
        else:
            document = _set(document, path, draw(HUGE))
    return scenario, name, document, None


# --- the independent oracle: does a document lack a field its check requires? --------------------

def _lacks_required(shape: Any, document: Any) -> bool:
    def lacks(item: Any) -> bool:
        for field, _ in shape.required:
            value = item
            for part in field.split("."):
                if not isinstance(value, dict) or part not in value:
                    return True
                value = value[part]
        return False

    if shape.kind == "object":
        return not isinstance(document, dict) or lacks(document)
    return not isinstance(document, list) or any(not isinstance(i, dict) or lacks(i) for i in document)


def _strict_json(text: str) -> Any:
    def refuse(constant: str) -> Any:
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


@given(mutated(), st.booleans(), st.sampled_from(["json", "text"]))
def test_any_mutation_of_any_recorded_document_gives_a_report_and_no_false_pass(case, escaped, fmt):
    scenario, name, document, raw = case
    with tempfile.TemporaryDirectory() as tmp:
        # gcloud writes UTF-8; \uXXXX escapes are also JSON (and the only way to write a lone surrogate)
        text = raw if raw is not None else json.dumps(document, indent=2, sort_keys=True, ensure_ascii=escaped)
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            text = json.dumps(document, indent=2, sort_keys=True)
        folder = replay_folder(Path(tmp), scenario, raw={name: text})
        # --jobs 1: on replay, worker threads cost more than the work
        code, out, err = diagnose_in_process(folder, "--jobs", "1", "--format", fmt)
        if fmt == "text":  # the same run as JSON, for the assertions below
            assert code in (0, 1, 2, 3) and "Traceback" not in err, (code, err)
            code, out, err = diagnose_in_process(folder, "--jobs", "1")
    assert code in (0, 1, 2, 3), (code, err)
    assert "Traceback" not in err, err
    report = _strict_json(out)
    assert not [f for f in report["findings"] if "internal error" in f["message"]]
    if raw is not None:
        try:
            document, raw = _strict_json(raw), None  # a cut that is still JSON is a document
        except ValueError:
            pass
    readers = [c for c in CHECKS if recording.name_for(c.argv) + ".json" == name]
    for check in readers:
        if raw is not None:  # not JSON: the check is an ERROR, never judged
            assert [f["status"] for f in report["findings"] if f["check"] == check.id
                    and f["resource"] == check.resource] in ([], ["error"]), (check.id, raw[:80])
        elif check.shape is not None and _lacks_required(check.shape, document):
            judged = [f for f in report["findings"] if f["check"] == check.id and f["resource"] == check.resource]
            assert not [f for f in judged if f["status"] == "pass"], (check.id, judged)
