#!/usr/bin/env python3
"""Check JSON documents against the apitools message class gcloud decodes them into.

Finds misspelled or invented field names (at any depth, with a did-you-mean),
enum values the API does not define and values of the wrong type (e.g. bad
base64 in a bytes field), so a hand-written fixture cannot silently drift from
what the real API returns.

Usage:
  gcloud_schema.py [--gcloud-output] MODULE:CLASS FILE.json [FILE.json ...]
  gcloud_schema.py --batch  < requests.jsonl  > results.jsonl

  MODULE:CLASS  e.g. googlecloudsdk.generated_clients.apis.sqladmin.v1beta4.
                sqladmin_v1beta4_messages:DatabaseInstance
                (the "googlecloudsdk.generated_clients.apis." prefix may be
                left out: sqladmin.v1beta4.sqladmin_v1beta4_messages:...).
  FILE.json     one object, or a list of objects (gcloud's list output):
                each element is checked against CLASS. "-" reads stdin.
                Several files are checked in one process (start-up is ~1 s).
  --gcloud-output
                the file is what gcloud printed rather than the raw API body:
                allow gcloud's own additions (top-level "x_gcloud_*" keys, e.g.
                from `compute networks describe`) and the SQL presentation
                state "STOPPED" (gcloud shows it when activationPolicy=NEVER).
  --batch       check many (class, file) pairs in one process. Each stdin line
                is a JSON object {"class": "MODULE:CLASS", "file": PATH,
                "gcloud_output": false} (or "document": VALUE in place of
                "file"); each answer is one stdout line, in order:
                {"class", "file", "documents": N, "problems": [{"path", "kind",
                "detail"}], "error": null or "why the pair was not checked"}.
                Exit status 0 unless the input itself is unreadable.

Exit status: 0 clean; 1 problems found (unknown field, bad enum value, value
of the wrong type); 2 usage error (bad class path, unreadable file, bad JSON).

It must run under gcloud's Python with gcloud's lib on the path; when run by
another interpreter it re-executes itself that way. Override the SDK location
with CLOUDSDK_ROOT (default: the SDK that `gcloud` on PATH belongs to) and the
interpreter with CLOUDSDK_PYTHON.

From another Python (e.g. the test suite), `check_batch(requests)` runs one
`--batch` process and returns its answers; `gcloud_python()` says how.

This file is the project's own copy: it needs nothing but the Python standard
library and an installed gcloud.
"""

from __future__ import annotations

import difflib
import importlib
import json
import os
import shutil
import subprocess
import sys
from typing import Any, Dict, Iterable, List, Optional, Tuple

PREFIX = "googlecloudsdk.generated_clients.apis."
_REEXEC = "_GCLOUD_SCHEMA_REEXEC"

Problem = Tuple[str, str, str]  # (path in the document, kind, detail)


class SchemaError(Exception):
    """A class path that does not load, a file that is not JSON, or no gcloud."""


# --------------------------------------------------------------------------- gcloud's Python


def sdk_root() -> Optional[str]:
    """The Cloud SDK folder: CLOUDSDK_ROOT, else the SDK of `gcloud` on PATH."""
    root = os.environ.get("CLOUDSDK_ROOT")
    if root:
        return root
    gcloud = shutil.which("gcloud")
    if gcloud:
        # <root>/bin/gcloud, usually reached through a symlink.
        return os.path.dirname(os.path.dirname(os.path.realpath(gcloud)))
    return None


def gcloud_python() -> Tuple[str, Dict[str, str]]:
    """(interpreter, environment) that can import apitools and googlecloudsdk."""
    root = sdk_root()
    if root is None:
        raise SchemaError("gcloud is not on PATH; set CLOUDSDK_ROOT to the SDK folder")
    py = os.environ.get("CLOUDSDK_PYTHON") or os.path.join(root, "platform", "bundledpythonunix", "bin", "python3")
    if not os.path.exists(py):
        py = sys.executable
    lib = os.path.join(root, "lib")
    env = dict(os.environ)
    env[_REEXEC] = "1"
    env["PYTHONPATH"] = os.pathsep.join(
        [lib, os.path.join(lib, "third_party")] + [p for p in [os.environ.get("PYTHONPATH")] if p]
    )
    return py, env


def _ensure_gcloud_python() -> None:
    """Re-exec under gcloud's bundled Python with its lib on sys.path."""
    try:
        import apitools.base.py  # noqa: F401
        import googlecloudsdk  # noqa: F401

        return
    except ImportError:
        pass
    if os.environ.get(_REEXEC):
        sys.exit("gcloud_schema: cannot import apitools/googlecloudsdk even with gcloud's lib on the path; "
                 "set CLOUDSDK_ROOT")
    try:
        py, env = gcloud_python()
    except SchemaError as e:
        sys.exit(f"gcloud_schema: {e}")
    os.execve(py, [py, os.path.abspath(__file__)] + sys.argv[1:], env)


def check_batch(requests: Iterable[Dict[str, Any]], timeout: float = 120) -> List[Dict[str, Any]]:
    """Check many {"class", "file" or "document", "gcloud_output"} requests in ONE gcloud-Python process.

    Runs from any Python; returns one answer per request, in order (their shape is in the
    module docstring). Raises SchemaError if gcloud is missing or the batch fails as a whole.
    """
    requests = list(requests)
    py, env = gcloud_python()
    lines = "".join(json.dumps(r) + "\n" for r in requests)
    proc = subprocess.run(
        [py, os.path.abspath(__file__), "--batch"],
        input=lines, env=env, capture_output=True, text=True, timeout=timeout, check=False,
    )
    answers = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    if proc.returncode != 0 or len(answers) != len(requests):
        raise SchemaError(
            f"gcloud_schema --batch failed (exit {proc.returncode}, {len(answers)} of {len(requests)} answers):\n"
            f"{proc.stderr.strip()}"
        )
    return answers


# --------------------------------------------------------------------------- the check


class Checker:
    """Decodes with apitools and walks the result without pruning."""

    def __init__(self, gcloud_output: bool = False) -> None:
        from apitools.base.protorpclite import messages
        from apitools.base.py import encoding

        self.messages = messages
        self.encoding = encoding
        self.gcloud_output = gcloud_output
        self.problems: List[Problem] = []

    # --- helpers -------------------------------------------------------------
    def _json_name(self, cls: Any, py_name: str) -> str:
        return self.encoding.GetCustomJsonFieldMapping(cls, python_name=py_name) or py_name

    def _field_for_json(self, cls: Any, json_name: str) -> Any:
        py = self.encoding.GetCustomJsonFieldMapping(cls, json_name=json_name)
        try:
            return cls.field_by_name(py or json_name)
        except KeyError:
            return None

    def _is_map(self, cls: Any) -> bool:
        try:
            f = cls.field_by_name("additionalProperties")
        except KeyError:
            return False
        return bool(f.repeated and isinstance(f, self.messages.MessageField))

    def _add(self, path: str, kind: str, detail: str) -> None:
        self.problems.append((path or "<root>", kind, detail))

    # --- apitools decode + walk ----------------------------------------------
    def check(self, cls: Any, doc: Any, path: str = "") -> None:
        if not isinstance(doc, dict):
            self._add(path, "wrong type", f"expected a JSON object for {cls.__name__}, got {type(doc).__name__}")
            return
        try:
            msg = self.encoding.DictToMessage(doc, cls)
        except Exception:  # noqa: BLE001
            # apitools names no path: find and drop the values it refuses, report
            # them, then decode the rest so misspelled names are still found.
            doc = self._drop_bad_values(cls, doc, path)
            try:
                msg = self.encoding.DictToMessage(doc, cls)
            except Exception as e:  # noqa: BLE001
                self._add(path, "decode error", f"{type(e).__name__}: {e}")
                return
        self._walk(msg, path, top=True)

    def _walk(self, msg: Any, path: str, top: bool = False) -> None:
        cls = type(msg)
        for key in msg.all_unrecognized_fields():
            value, _ = msg.get_unrecognized_field_info(key)
            sub = f"{path}.{key}" if path else key
            field = self._field_for_json(cls, key)
            if isinstance(field, self.messages.EnumField):
                bad = [v for v in (value if isinstance(value, list) else [value]) if v not in field.type.names()]
                if (self.gcloud_output and bad == ["STOPPED"] and key == "state"
                        and cls.__name__ == "DatabaseInstance"):
                    continue  # gcloud's presentation state for activationPolicy=NEVER
                self._add(sub, "bad enum value", "%r not in %s (valid: %s)" % (
                    bad[0] if len(bad) == 1 else bad, field.type.__name__, ", ".join(sorted(field.type.names()))))
            elif field is not None:
                if field.name != key and msg.get_assigned_value(field.name) is not None:
                    # apitools decodes custom-named fields (Probe "exec" -> exec_) yet
                    # also leaves the JSON name among the unrecognized ones.
                    continue
                self._add(sub, "bad value", f"could not decode {value!r}")
            else:
                if self.gcloud_output and top and key.startswith("x_gcloud_"):
                    continue
                known = sorted(self._json_name(cls, f.name) for f in cls.all_fields())
                close = difflib.get_close_matches(key, known, n=3, cutoff=0.6)
                hint = f"did you mean {' or '.join(close)}?" if close else "known: " + ", ".join(known)
                self._add(sub, "unknown field", f"{key!r} is not a field of {cls.__name__}; {hint}")
        is_map = self._is_map(cls)
        for field in cls.all_fields():
            if not isinstance(field, self.messages.MessageField):
                continue
            value = msg.get_assigned_value(field.name)
            if value is None:
                continue
            if is_map and field.name == "additionalProperties":
                for prop in value:
                    if isinstance(prop.value, self.messages.Message):
                        self._walk(prop.value, f"{path}[{json.dumps(prop.key)}]")
                continue
            name = self._json_name(cls, field.name)
            sub = f"{path}.{name}" if path else name
            if field.repeated:
                for i, item in enumerate(value):
                    if isinstance(item, self.messages.Message):
                        self._walk(item, f"{sub}[{i}]")
            elif isinstance(value, self.messages.Message):
                self._walk(value, sub)

    # --- fallback: find the values apitools refuses ------------------------
    def _drop_bad_values(self, cls: Any, doc: Dict[str, Any], path: str) -> Dict[str, Any]:
        """Returns a copy of doc without the values that fail to decode (reporting each)."""
        m = self.messages
        out: Dict[str, Any] = {}
        is_map = self._is_map(cls)
        for key, value in doc.items():
            sub = f"{path}.{key}" if path else key
            field = self._field_for_json(cls, key)
            if field is None and is_map:
                field = cls.field_by_name("additionalProperties").type.field_by_name("value")
                sub = f"{path}[{json.dumps(key)}]"
            if (field is None or value is None or isinstance(field, m.EnumField)
                    or (isinstance(field, m.MessageField) and field.type.__module__.endswith("extra_types"))):
                out[key] = value  # unknown names and enums: the decode walk reports them
                continue
            if field.repeated and not isinstance(value, list):
                self._add(sub, "wrong type", f"expected a list, got {value!r}")
                continue
            items = value if field.repeated else [value]
            kept = []
            for i, item in enumerate(items):
                ipath = f"{sub}[{i}]" if field.repeated else sub
                if isinstance(field, m.MessageField):
                    if isinstance(item, dict):
                        kept.append(self._drop_bad_values(field.type, item, ipath))
                    else:
                        self._add(ipath, "wrong type", f"expected an object ({field.type.__name__}), got {item!r}")
                    continue
                try:
                    self.encoding.DictToMessage({key: [item] if field.repeated else item}, cls)
                    kept.append(item)
                except Exception as e:  # noqa: BLE001
                    self._add(ipath, "wrong type", f"{item!r} for {type(field).__name__}: {e}")
            if field.repeated:
                out[key] = kept
            elif kept:
                out[key] = kept[0]
        return out


_CLASSES: Dict[str, Any] = {}


def load_class(spec: Any) -> Any:
    """MODULE:CLASS (the generated_clients prefix optional) -> the message class (gcloud's Python only)."""
    if not isinstance(spec, str) or ":" not in spec:
        raise SchemaError(f"class must be MODULE:CLASS, got {spec!r}")
    if spec not in _CLASSES:
        mod_name, cls_name = spec.split(":", 1)
        try:
            try:
                mod = importlib.import_module(mod_name)
            except ImportError:
                mod = importlib.import_module(PREFIX + mod_name)
            _CLASSES[spec] = getattr(mod, cls_name)
        except (ImportError, AttributeError) as e:
            raise SchemaError(f"cannot load {spec}: {e}") from e
    return _CLASSES[spec]


def read_json(path: str) -> Any:
    try:
        if path == "-":
            return json.loads(sys.stdin.read())
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, ValueError) as e:
        raise SchemaError(f"cannot read JSON from {path}: {e}") from e


def check_document(cls: Any, doc: Any, gcloud_output: bool = False) -> Tuple[int, List[Problem]]:
    """(number of documents, problems) for one object, or a list of them each checked against cls."""
    checker = Checker(gcloud_output=gcloud_output)
    docs = doc if isinstance(doc, list) else [doc]
    for i, d in enumerate(docs):
        checker.check(cls, d, f"[{i}]" if isinstance(doc, list) else "")
    return len(docs), checker.problems


# --------------------------------------------------------------------------- entry points


def _batch(stdin: Any, stdout: Any) -> int:
    for line in stdin:
        if not line.strip():
            continue
        try:
            req = json.loads(line)
            if not isinstance(req, dict):
                raise ValueError("not a JSON object")
        except ValueError as e:
            sys.stderr.write(f"gcloud_schema --batch: bad request line {line!r}: {e}\n")
            return 2
        answer: Dict[str, Any] = {"class": req.get("class"), "file": req.get("file"),
                                  "documents": 0, "problems": [], "error": None}
        try:
            cls = load_class(req.get("class"))
            if "document" in req:
                doc = req["document"]
            elif isinstance(req.get("file"), str):
                doc = read_json(req["file"])
            else:
                raise SchemaError('the request names neither "file" nor "document"')
            n, problems = check_document(cls, doc, bool(req.get("gcloud_output")))
            answer["documents"] = n
            answer["problems"] = [{"path": p, "kind": k, "detail": d} for p, k, d in problems]
        except SchemaError as e:
            answer["error"] = str(e)
        except Exception as e:  # noqa: BLE001
            answer["error"] = f"the checker crashed: {type(e).__name__}: {e}"
        stdout.write(json.dumps(answer) + "\n")
        stdout.flush()
    return 0


def main(argv: List[str]) -> int:
    args = [a for a in argv if not a.startswith("--")]
    flags = [a for a in argv if a.startswith("--")]
    unknown_flags = set(flags) - {"--gcloud-output", "--help", "--batch"}
    if "--help" in flags or unknown_flags:
        sys.stderr.write(__doc__ or "")
        return 0 if "--help" in flags else 2
    if "--batch" in flags:
        if args or "--gcloud-output" in flags:
            sys.stderr.write("gcloud_schema: --batch takes no other arguments (each request says gcloud_output)\n")
            return 2
        _ensure_gcloud_python()
        return _batch(sys.stdin, sys.stdout)
    if len(args) < 2:
        sys.stderr.write(__doc__ or "")
        return 2
    _ensure_gcloud_python()
    spec, paths = args[0], args[1:]
    try:
        cls = load_class(spec)
    except SchemaError as e:
        sys.stderr.write(f"gcloud_schema: {e}\n")
        return 2
    status = 0
    for path in paths:
        try:
            doc = read_json(path)
        except SchemaError as e:
            sys.stderr.write(f"gcloud_schema: {e}\n")
            status = 2
            continue
        n, problems = check_document(cls, doc, "--gcloud-output" in flags)
        for p, kind, detail in problems:
            print(f"{path}: {p}: {kind}: {detail}")
        if problems:
            print(f"{path}: {len(problems)} problem(s) against {cls.__name__}")
            status = max(status, 1)
        else:
            print(f"{path}: OK ({n} document(s) match {cls.__name__})")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
