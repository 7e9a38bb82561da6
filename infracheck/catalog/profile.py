"""The profile: the names of the stack under diagnosis, from every source, each value checked.

Precedence of a value: `flags` (--project, --region) and `overrides` (--set)
> `environ` (INFRACHECK_NAME) > a `--profile` file > the catalog's
profile.toml. Every value, whatever its source, goes through the same checks,
and a refusal names that source (file and key, flag, or variable).
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import json
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from infracheck.environment import PREFIX as ENV_PREFIX
from infracheck.environment import VARIABLES  # INFRACHECK_* that are not profile names
from infracheck.model import CatalogError

FILE = "profile.toml"

# Profile names whose command-line flag is spelled otherwise.
_FLAG_OF = {"metrics_window": "window"}

# Profile names whose values never reach an argv and are validated by their
# own engine (the journey's JMESPath and JSON bodies hold spaces by nature).
OWN_VALIDATION = frozenset({"journey"})


def read(
    directory: Path,
    profile_file: Path | None,
    overrides: Mapping[str, str],
    env: Mapping[str, str],
    flags: Mapping[str, str],
    escalation_override: Callable[[Path, Any], dict[str, Any]],
) -> tuple[dict[str, Any], dict[str, Any], tuple[str, ...]]:
    """The profile's values, a `--profile` file's [escalation] table (checked by `escalation_override`),
    and the warnings to print (unknown INFRACHECK_* variables, another project with the built-in names)."""
    builtin = directory / FILE
    defaults, spec = _read_profile(builtin)
    retired = defaults.pop("retired", {})
    if not isinstance(retired, dict):
        raise CatalogError(f"{FILE}: [retired] must be a table of name = what replaced it")
    _refuse_retired(retired, profile_file, overrides, env)
    profile: dict[str, Any] = {}
    origins: dict[str, str] = {}

    def accept(name: str, raw: Any, origin: str) -> None:
        profile[name] = _coerce(name, raw, defaults[name], origin)
        origins[name] = origin

    for name, value in defaults.items():
        accept(name, value, f"{builtin.name}: {name}")
    business: dict[str, Any] = {}
    if profile_file is not None:
        extra, extra_spec = _read_profile(profile_file, known=defaults)
        business = escalation_override(profile_file, extra.pop("escalation", {}))
        spec.update(extra_spec)
        for name, value in extra.items():
            accept(name, value, f"{profile_file}: {name}")
    for name in defaults:
        raw = env.get(ENV_PREFIX + name.upper())
        if raw is not None:
            accept(name, raw, f"${ENV_PREFIX}{name.upper()}")
    given = [(f"--set {name}", name, raw) for name, raw in overrides.items()]
    given += [(f"--{_FLAG_OF.get(name, name)}", name, raw) for name, raw in flags.items()]
    for origin, name, raw in given:
        if name not in defaults:
            known = ", ".join(sorted(defaults))
            raise CatalogError(f"{origin}: unknown profile name '{name}' (known: {known})")
        accept(name, raw, origin)
    for name, value in profile.items():
        if name not in OWN_VALIDATION:
            _validate_value(name, value, spec, origins[name])
    _validate_ranges(profile, origins)
    warnings = tuple(_unknown_variables(env, defaults)) + _names_of_another_project(
        profile, defaults, origins, f"{builtin.name}: "
    )
    return profile, business, warnings


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except OSError as exc:
        raise CatalogError(f"{path}: cannot read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"{path.name}: not valid TOML: {exc}") from None


@dataclasses.dataclass(frozen=True)
class Spec:
    """What valid profile values look like: a regex and its wording, and which names are CIDR ranges."""

    patterns: dict[str, str]
    words: dict[str, str]
    cidr: set[str]

    def update(self, other: "Spec") -> None:
        self.patterns.update(other.patterns)
        self.words.update(other.words)
        self.cidr.update(other.cidr)


def _read_profile(path: Path, known: Mapping[str, Any] | None = None) -> tuple[dict[str, Any], Spec]:
    data = read_toml(path)
    tables = {}
    for table in ("patterns", "describe"):
        tables[table] = data.pop(table, {})
        if not isinstance(tables[table], dict):
            raise CatalogError(f"{path.name}: [{table}] must be a table")
    cidr = data.pop("cidr", [])
    data.pop("parity", None)  # what `infracheck parity` may ignore (judge/parity.py reads it): no profile name
    if not isinstance(cidr, list):
        raise CatalogError(f"{path.name}: 'cidr' must be a list of names")
    if known is not None:
        unknown = set(data) - set(known) - {"escalation"}
        if unknown:
            raise CatalogError(f"{path}: unknown profile name(s) {sorted(unknown)}")
    for name, pattern in tables["patterns"].items():
        try:
            re.compile(pattern)
        except re.error as exc:
            raise CatalogError(f"{path.name}: pattern for '{name}' does not compile: {exc}") from None
    return dict(data), Spec(dict(tables["patterns"]), dict(tables["describe"]), set(map(str, cidr)))


def _refuse_retired(
    retired: Mapping[str, Any],
    profile_file: Path | None,
    overrides: Mapping[str, str],
    env: Mapping[str, str],
) -> None:
    """A retired profile name is an error that says what replaced it, never silently ignored."""
    if not retired:
        return
    given: list[tuple[str, str]] = [(f"--set {n}", n) for n in overrides if n in retired]
    given += [(f"${ENV_PREFIX}{n.upper()}", n) for n in retired if ENV_PREFIX + n.upper() in env]
    if profile_file is not None:
        given += [(str(profile_file), n) for n in read_toml(profile_file) if n in retired]
    if given:
        origin, name = given[0]
        raise CatalogError(f"{origin}: '{name}' is no longer read: {retired[name]}")


def _coerce(name: str, raw: Any, default: Any, origin: str) -> Any:
    """A value from any source in the default's type; text from a flag or the environment is parsed."""
    if isinstance(default, bool):
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.strip().lower() in ("1", "true", "yes", "0", "false", "no"):
            return raw.strip().lower() in ("1", "true", "yes")
        raise CatalogError(f"{origin}: takes true or false, not {_shown(raw)}")
    if isinstance(default, int):
        value = None
        if isinstance(raw, int) and not isinstance(raw, bool):
            value = raw
        elif isinstance(raw, str) and re.fullmatch(r"\s*[-+]?[0-9]+\s*", raw):
            value = int(raw)
        if value is None:
            raise CatalogError(f"{origin}: takes a whole number, not {_shown(raw)}")
        if value < 0:  # every number in the profile is a count, a size or a duration
            raise CatalogError(f"{origin}: must be 0 or more, not {value}")
        return value
    if isinstance(default, list):
        tables = bool(default) and all(isinstance(v, dict) for v in default)
        if isinstance(raw, list):
            if not default:  # an empty built-in list (e.g. journey) says nothing of its items' kind
                if not (all(isinstance(v, str) for v in raw) or all(isinstance(v, dict) for v in raw)):
                    raise CatalogError(f"{origin}: takes a list of text values or of tables, not a mix")
                return list(raw)
            if tables and not all(isinstance(v, dict) for v in raw):
                raise CatalogError(f"{origin}: takes a list of tables like the built-in profile's")
            if not tables and not all(isinstance(v, str) for v in raw):
                raise CatalogError(f"{origin}: takes a list of text values, not {_shown(raw)}")
            return list(raw)
        if isinstance(raw, str):
            if tables:
                raise CatalogError(f"{origin}: is a list of tables; set it in a --profile file instead")
            return [part.strip() for part in raw.split(",") if part.strip()]
        raise CatalogError(f"{origin}: takes a list, not {_shown(raw)}")
    if not isinstance(raw, str):
        raise CatalogError(f"{origin}: takes text, not {_shown(raw)}")
    return raw


def _shown(raw: Any) -> str:
    return f"'{raw}'" if isinstance(raw, str) else json.dumps(raw, default=str)


def _validate_value(name: str, value: Any, spec: Spec, origin: str) -> None:
    """Refuse values that are malformed, could not exist, or would read as a flag to gcloud."""
    if isinstance(value, list):
        for item in value:
            if isinstance(item, dict):
                for key, sub in item.items():
                    _validate_value(f"{name}.{key}", sub, spec, origin)
            else:
                _validate_value(name, item, spec, origin)
        return
    if not isinstance(value, str):
        return
    if value.startswith("-"):
        raise CatalogError(f"{origin}: invalid {name} '{value}': a value may not start with '-'")
    if any(ch.isspace() or ord(ch) < 32 for ch in value):
        raise CatalogError(f"{origin}: invalid {name} {value!r}: spaces and control characters are not allowed")
    if name in spec.cidr:
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise CatalogError(f"{origin}: invalid {name} '{value}': not a CIDR range (e.g. 10.8.0.0/28)") from None
    pattern = spec.patterns.get(name)
    if pattern and not re.fullmatch(pattern, value):
        words = spec.words.get(name) or f"does not have the form {name} takes"
        raise CatalogError(f"{origin}: invalid {name} '{value}': {words}")


def _validate_ranges(profile: Mapping[str, Any], origins: Mapping[str, str]) -> None:
    """A maximum may not be below its minimum (names X_max_Y and X_min_Y pair up)."""
    for high in profile:
        low = high.replace("_max_", "_min_")
        if low == high or low not in profile:
            continue
        if isinstance(profile[high], int) and isinstance(profile[low], int) and profile[high] < profile[low]:
            raise CatalogError(
                f"{origins[high]}: {high} {profile[high]} is below {low} {profile[low]} (from {origins[low]})"
            )


def _names_of_another_project(
    profile: Mapping[str, Any], defaults: Mapping[str, Any], origins: Mapping[str, str], builtin: str
) -> tuple[str, ...]:
    """Say once when another project is diagnosed with the built-in profile's resource names."""
    if profile.get("project") == defaults.get("project"):
        return ()
    names = [n for n, v in profile.items() if n not in ("project", "region") and isinstance(v, (str, list))]
    if any(not origins[n].startswith(builtin) for n in names):
        return ()  # some names were given for this stack: the user knows where names come from
    return (f"{origins['project']} {profile['project']}: resource names (connector {profile.get('connector')}, "
            f"sql_instance {profile.get('sql_instance')}, ...) still come from the built-in profile, written for "
            f"{defaults['project']}; give --profile FILE with your stack's names",)


def _unknown_variables(environ: Mapping[str, str], names: Iterable[str]) -> list[str]:
    """Warnings for INFRACHECK_* variables that name no setting (a typo is otherwise silently ignored)."""
    known = {ENV_PREFIX + n.upper() for n in names} | set(VARIABLES)
    warnings = []
    for variable in sorted(v for v in environ if v.startswith(ENV_PREFIX) and v not in known):
        guess = difflib.get_close_matches(variable, sorted(known), n=1)
        hint = f" (did you mean {guess[0]}?)" if guess else " (see infracheck --help)"
        warnings.append(f"{variable} is not an infracheck setting and is ignored{hint}")
    return warnings


@dataclasses.dataclass(frozen=True)
class Values:
    """The built-in profile's names, defaults and patterns, to check a value from elsewhere (a targets
    file) exactly as `read` checks a --set, and a profile file as it checks --profile."""

    defaults: Mapping[str, Any]
    spec: Spec
    retired: Mapping[str, Any]

    def check(self, name: str, raw: Any, origin: str) -> Any:
        """`raw` in the default's type, validated; CatalogError naming `origin` otherwise."""
        if name in self.retired:
            raise CatalogError(f"{origin}: '{name}' is no longer read: {self.retired[name]}")
        if name not in self.defaults:
            raise CatalogError(f"{origin}: unknown profile name '{name}' (known: {', '.join(sorted(self.defaults))})")
        value = _coerce(name, raw, self.defaults[name], origin)
        if name not in OWN_VALIDATION:
            _validate_value(name, value, self.spec, origin)
        return value

    def check_file(self, path: Path) -> None:
        """Every value of a --profile file, as `read` would check it (its own [patterns] included)."""
        extra, extra_spec = _read_profile(path, known=self.defaults)
        extra.pop("escalation", None)  # its own schema, checked by the escalation loader on the run
        spec = Spec(dict(self.spec.patterns), dict(self.spec.words), set(self.spec.cidr))
        spec.update(extra_spec)
        for name, raw in extra.items():
            if name in self.retired:
                raise CatalogError(f"{path}: '{name}' is no longer read: {self.retired[name]}")
            value = _coerce(name, raw, self.defaults[name], f"{path}: {name}")
            if name not in OWN_VALIDATION:
                _validate_value(name, value, spec, f"{path}: {name}")


def values(directory: Path) -> Values:
    """The checker of profile values for the catalog in `directory`."""
    builtin = directory / FILE
    if not builtin.is_file():
        raise CatalogError(f"{builtin.parent}: no {FILE} (is this a catalog folder?)")
    defaults, spec = _read_profile(builtin)
    retired = defaults.pop("retired", {})
    return Values(defaults, spec, retired if isinstance(retired, dict) else {})
