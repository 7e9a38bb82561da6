"""catalog_cache: the same catalog as loader.load, read again only when an input changed,
and never at the cost of a run (a broken, foreign or unwritable cache is a miss)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from infracheck.catalog import loader, cache, listing
from infracheck.model import Catalog
from tests.tools.fakes import run

COMMANDS = Path(__file__).resolve().parents[2] / "commands"


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    """An environment whose cache folder is empty."""
    return {"XDG_CACHE_HOME": str(tmp_path / "cache")}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    copy = tmp_path / "commands"
    shutil.copytree(COMMANDS, copy)
    return copy


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the real loader.load calls (the misses)."""
    calls: list[int] = []
    real = loader.load

    def counting(*args: object, **kwargs: object) -> Catalog:
        calls.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(loader, "load", counting)
    return calls


def test_a_second_load_reads_the_cache_and_gives_the_same_catalog(home: dict[str, str], folder: Path,
                                                                   loads: list[int]) -> None:
    first = cache.load(folder, {}, environ=home)
    second = cache.load(folder, {}, environ=home)
    assert len(loads) == 1
    assert second == first == loader.load(folder, {}, environ=home)
    assert list((Path(home["XDG_CACHE_HOME"]) / "infracheck").glob("catalog-*.pickle"))


@pytest.mark.parametrize("change", ["toml", "set", "flag", "variable", "profile"])
def test_any_changed_input_is_read_again(change: str, home: dict[str, str], folder: Path, tmp_path: Path,
                                         loads: list[int]) -> None:
    profile = tmp_path / "mine.toml"
    profile.write_text('project = "prod-one"\n')
    cache.load(folder, {}, profile_file=profile, environ=home)
    overrides, flags, env = {}, {}, dict(home)
    if change == "toml":
        (folder / "vpc.toml").write_text((folder / "vpc.toml").read_text().replace("VPC", "VPC (edited)", 1))
    elif change == "set":
        overrides = {"region": "europe-west1"}
    elif change == "flag":
        flags = {"project": "prod-two"}
    elif change == "variable":
        env["INFRACHECK_REGION"] = "europe-west1"
    else:
        profile.write_text('project = "prod-three"\n')
    fresh = cache.load(folder, overrides, profile_file=profile, flags=flags, environ=env)
    assert len(loads) == 2
    assert fresh == loader.load(folder, overrides, env, profile, flags)


def test_a_broken_cache_file_is_a_miss(home: dict[str, str], folder: Path, loads: list[int]) -> None:
    cache.load(folder, {}, environ=home)
    for cached in (Path(home["XDG_CACHE_HOME"]) / "infracheck").glob("catalog-*.pickle"):
        cached.write_bytes(b"not a pickle")
    again = cache.load(folder, {}, environ=home)
    assert len(loads) == 2
    assert again == loader.load(folder, {}, environ=home)


def test_a_cache_others_may_write_is_never_read(home: dict[str, str], folder: Path, loads: list[int]) -> None:
    cache.load(folder, {}, environ=home)
    (Path(home["XDG_CACHE_HOME"]) / "infracheck").chmod(0o777)
    cache.load(folder, {}, environ=home)
    assert len(loads) == 2


def test_a_cache_folder_that_cannot_be_written_costs_nothing_but_speed(tmp_path: Path, folder: Path,
                                                                        loads: list[int]) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    env = {"XDG_CACHE_HOME": str(blocked)}
    first = cache.load(folder, {}, environ=env)
    assert cache.load(folder, {}, environ=env) == first
    assert len(loads) == 2
    assert first == loader.load(folder, {}, environ=env)


def test_no_home_means_no_cache(folder: Path, loads: list[int]) -> None:
    assert cache.cache_dir({"XDG_CACHE_HOME": "relative/ignored"}) is None
    cache.load(folder, {}, environ={})
    cache.load(folder, {}, environ={})
    assert len(loads) == 2


def test_a_catalog_error_is_never_cached(home: dict[str, str], folder: Path) -> None:
    (folder / "vpc.toml").write_text("[[check]]\nid = \n")
    for _ in range(2):
        with pytest.raises(loader.CatalogError, match="vpc.toml"):
            cache.load(folder, {}, environ=home)
    assert not list((Path(home["XDG_CACHE_HOME"]) / "infracheck").glob("catalog-*.pickle"))


def test_only_the_newest_catalogs_are_kept(home: dict[str, str], folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cache, "KEEP", 2)
    for region in ("us-east1", "us-west1", "europe-west1"):
        cache.load(folder, {"region": region}, environ=home)
    kept = list((Path(home["XDG_CACHE_HOME"]) / "infracheck").glob("catalog-*.pickle"))
    assert len(kept) == 2


def test_the_cli_warns_of_a_misspelt_variable_from_the_cache_too(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                                clean_environment: None, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("INFRACHECK_PROJET", "typo")
    for _ in range(2):
        code, _, err = run(capsys, "list")
        assert code == 0
        assert "INFRACHECK_PROJET" in err and "INFRACHECK_PROJECT" in err
    assert os.listdir(tmp_path / "cache" / "infracheck")


def test_list_and_explain_views_are_those_of_the_catalog_and_kept(home: dict[str, str], folder: Path,
                                                                  loads: list[int]) -> None:
    first = cache.views(folder, {}, environ=home)
    again = cache.views(folder, {}, environ=home)
    assert len(loads) == 1
    assert again == first == listing.views(loader.load(folder, {}, environ=home))
    assert "cloudsql.state" in first["explain"] and first["list"]["text"].startswith("\n[vpc]")


def test_views_of_a_changed_catalog_are_rendered_again(home: dict[str, str], folder: Path, loads: list[int]) -> None:
    before = cache.views(folder, {}, environ=home)
    edited = (folder / "vpc.toml").read_text().replace("Checking VPC Connector", "Checking the connector", 1)
    (folder / "vpc.toml").write_text(edited)
    after = cache.views(folder, {}, environ=home)
    assert len(loads) == 2
    assert after["list"]["text"] != before["list"]["text"] and "[vpc] Checking the connector" in after["list"]["text"]


def test_broken_views_are_a_miss(home: dict[str, str], folder: Path, loads: list[int]) -> None:
    cache.views(folder, {}, environ=home)
    for kept in (Path(home["XDG_CACHE_HOME"]) / "infracheck").glob("*-*.*"):
        kept.write_text('{"list": 1}' if kept.suffix == ".json" else "garbage")
    assert cache.views(folder, {}, environ=home) == listing.views(loader.load(folder, {}, environ=home))


def test_views_kept_without_a_list_format_are_a_miss(home: dict[str, str], folder: Path) -> None:
    # Views kept by an infracheck whose `list` had fewer formats (no markdown) must not
    # make `list --format markdown` fail with a KeyError: they are rendered again.
    import json

    cache.views(folder, {}, environ=home)
    for kept in (Path(home["XDG_CACHE_HOME"]) / "infracheck").glob("views-*.json"):
        old = json.loads(kept.read_text())
        del old["list"]["markdown"]
        kept.write_text(json.dumps(old))
    shown = cache.views(folder, {}, environ=home)
    assert shown == listing.views(loader.load(folder, {}, environ=home))
    assert shown["list"]["markdown"].startswith("# What is checked")
    kept = next((Path(home["XDG_CACHE_HOME"]) / "infracheck").glob("views-*.json"))
    assert "markdown" in json.loads(kept.read_text())["list"]  # rendered again and kept
