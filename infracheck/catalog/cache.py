"""The validated catalog kept between runs, keyed by everything `loader.load` reads.

Reading and validating the catalog (TOML parsing, every JMESPath expression
compiled, every value checked) and loading loader.py and its parsers were
most of what `list` and `explain` did, and a good part of a replay
(docs/results.md has the start-up figures). The catalog changes when its inputs change, so the
result is kept as a pickle under $XDG_CACHE_HOME/infracheck (~/.cache) and
used again only when every input is byte for byte what it was: each *.toml of
the catalog folder, the --profile file, --set and --project/--region, every
INFRACHECK_* variable, the Python and the infracheck code that built it.
Beside it, as JSON, what `list` and `explain` print for that catalog
(`listing.views`): those two then load neither the catalog nor the model.

The cache can only make a run faster: a miss, a broken or unreadable file, a
folder that cannot be written, all mean `loader.load` as usual. A file is
trusted only from a folder and file that this user owns and nobody else may
write (the rule ssh applies to its keys); errors are never cached. Nothing in
it is secret: a profile may not hold credentials (only `${env:NAME}`).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import stat
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from infracheck import __version__, default_dir
from infracheck.environment import PREFIX

if TYPE_CHECKING:
    from infracheck.model import Catalog

KEEP = 16  # of each kind kept (profiles, projects): the oldest beyond that are removed
_FORMAT = b"infracheck catalog cache 1"
_PACKAGE = Path(__file__).resolve().parent.parent  # infracheck/, every stage's code
# The formats `list` prints (listing.views renders each): kept views that lack one are a miss.
_LIST_FORMATS = ("text", "json", "markdown")


def load(
    directory: Path | None = None,
    overrides: Mapping[str, str] | None = None,
    profile_file: Path | None = None,
    flags: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Catalog:
    """`loader.load(directory, overrides, environ, profile_file, flags)`, from the cache when it can."""
    env = os.environ if environ is None else environ
    return _load(directory, overrides, profile_file, flags, env, _key_if_cached(directory, overrides, profile_file,
                                                                                flags, env))


def _load(directory: Path | None, overrides: Mapping[str, str] | None, profile_file: Path | None,
          flags: Mapping[str, str] | None, env: Mapping[str, str], key: str | None) -> Catalog:
    import pickle  # here, as the model: `views` (list, explain) loads neither

    from infracheck.model import Catalog

    def read_for_real() -> Catalog:
        from infracheck.catalog import loader

        return loader.load(directory, overrides, env, profile_file, flags)

    def decode(data: bytes) -> Catalog | None:
        cached = pickle.loads(data)
        return cached if isinstance(cached, Catalog) else None

    found: Catalog = _through(_place("catalog", ".pickle", key, env), decode,
                              lambda loaded: pickle.dumps(loaded, protocol=pickle.HIGHEST_PROTOCOL), read_for_real)
    return found


def views(
    directory: Path | None = None,
    overrides: Mapping[str, str] | None = None,
    profile_file: Path | None = None,
    flags: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """`listing.views` of that catalog (what `list` and `explain` print), from the cache when it can."""
    env = os.environ if environ is None else environ
    key = _key_if_cached(directory, overrides, profile_file, flags, env)  # once: a miss loads the catalog too

    def render() -> dict[str, Any]:
        from infracheck.catalog import listing

        return listing.views(_load(directory, overrides, profile_file, flags, env, key))

    def decode(data: bytes) -> dict[str, Any] | None:
        cached = json.loads(data)
        complete = (isinstance(cached, dict) and {"warnings", "list", "explain"} <= cached.keys()
                    and isinstance(cached["list"], dict) and set(_LIST_FORMATS) <= cached["list"].keys())
        return cached if complete else None

    found: dict[str, Any] = _through(_place("views", ".json", key, env), decode, lambda shown: json.dumps(shown).encode("utf-8"), render)
    return found


def _through(path: Path | None, decode: Callable[[bytes], Any], encode: Callable[[Any], bytes],
             compute: Callable[[], Any]) -> Any:
    """What `path` keeps, if it is there, trusted and decodes; else compute() (kept there for next time)."""
    data = _read(path) if path is not None else None
    if data is not None:
        try:
            cached = decode(data)
        except Exception:  # from an older infracheck, or damaged: a miss
            cached = None
        if cached is not None:
            return cached
    result = compute()
    if path is not None:
        _write(path, encode(result))
    return result


def _place(kind: str, suffix: str, key: str | None, environ: Mapping[str, str]) -> Path | None:
    """Where this kind of result is kept, or None (no cache folder, an input unreadable: no key)."""
    folder = cache_dir(environ)
    return folder / f"{kind}-{key}{suffix}" if folder and key else None


def cache_dir(environ: Mapping[str, str]) -> Path | None:
    """$XDG_CACHE_HOME/infracheck, else ~/.cache/infracheck; None without a home to put it in."""
    base = environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):  # the XDG rule: a relative value is ignored
        home = environ.get("HOME", "")
        if not os.path.isabs(home):
            return None
        base = os.path.join(home, ".cache")
    return Path(base) / "infracheck"


def _key_if_cached(directory: Path | None, overrides: Mapping[str, str] | None, profile_file: Path | None,
                   flags: Mapping[str, str] | None, environ: Mapping[str, str]) -> str | None:
    """The inputs' key, or None where there is no cache folder (then nothing is worth reading)."""
    if cache_dir(environ) is None:
        return None
    return _key(directory, overrides or {}, profile_file, flags or {}, environ)


@functools.lru_cache(maxsize=1)
def _code() -> tuple[tuple[str, int, int], ...]:
    """infracheck's own modules (name, mtime, size): read once a process, since the code that runs is the code
    it loaded (a fleet loads a catalog per target; watch and serve one a cycle)."""
    return tuple((source.name, source.stat().st_mtime_ns, source.stat().st_size)
                 for source in sorted(_PACKAGE.rglob("*.py")))


def _key(directory: Path | None, overrides: Mapping[str, str], profile_file: Path | None,
         flags: Mapping[str, str], environ: Mapping[str, str]) -> str | None:
    """A digest of every input of loader.load, or None when one cannot be read (load reports it)."""
    digest = hashlib.sha256(_FORMAT)

    def add(*parts: object) -> None:
        for part in parts:
            data = part if isinstance(part, bytes) else repr(part).encode("utf-8", "surrogatepass")
            digest.update(len(data).to_bytes(8, "big") + data)

    try:
        add(sys.version, __version__, _code())
        folder = (directory or default_dir()).resolve()
        add(str(folder))
        for toml in sorted(folder.glob("*.toml")):
            add(toml.name, toml.read_bytes())
        if profile_file is not None:
            add(str(profile_file.resolve()), profile_file.read_bytes())
    except (OSError, ValueError):
        return None
    add(sorted(overrides.items()), sorted(flags.items()))
    add(sorted((name, value) for name, value in environ.items() if name.startswith(PREFIX)))
    return digest.hexdigest()[:40]


def _private(path: Path) -> bool:
    """Owned by this user and writable by nobody else."""
    info = path.stat()
    return info.st_uid == os.getuid() and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def _read(path: Path) -> bytes | None:
    try:
        if _private(path.parent) and _private(path):
            return path.read_bytes()
    except Exception:  # not there yet, unreadable, no owner to compare (no os.getuid): a miss
        pass
    return None


def _write(path: Path, data: bytes) -> None:
    import tempfile  # only on a miss

    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not _private(path.parent):
            return
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".cache-", suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            os.replace(temporary, path)
        except BaseException:
            os.unlink(temporary)
            raise
        kind = path.name.split("-", 1)[0]
        kept = sorted(path.parent.glob(f"{kind}-*{path.suffix}"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in kept[KEEP:]:
            old.unlink()
    except Exception:  # a read-only home, a full disk, a race with another run: no cache, same result
        return
