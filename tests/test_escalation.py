"""commands/escalation.toml: validated at load time like the rest of the catalog."""

from __future__ import annotations

import shutil

import pytest

from infracheck import catalog
from infracheck.catalog import CatalogError


@pytest.fixture
def catalog_dir(tmp_path):
    target = tmp_path / "commands"
    shutil.copytree(catalog.default_dir(), target, ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    return target


@pytest.mark.parametrize("text, words", [
    ('[[label]]\nname = "x"\nstatus = ["BROKEN"]\n', "unknown status ['BROKEN']"),
    ('[[label]]\nname = "x"\ncolour = "red"\n', "[[label]]: unknown key(s) ['colour']"),
    ('[[criterion]]\ngroup = "g"\ntext = "t"\n', "'t': needs verified_by, verdict or manual"),
    ('[[criterion]]\ngroup = "g"\ntext = "t"\nverdict = "GREEN"\n', "verdict must be one of"),
    ('[priority]\nRED = "P0"\n', "[priority] maps verdicts"),
    ('[[component]]\narea = "vpc"\nname = "{nope}"\n', "unknown name '{nope}'"),
    ('labels = 1\n', "unknown top-level key(s) ['labels']"),
])
def test_a_mistake_names_the_file_and_the_problem(catalog_dir, text, words):
    (catalog_dir / "escalation.toml").write_text(text)
    with pytest.raises(CatalogError) as caught:
        catalog.load(catalog_dir, environ={})
    assert str(caught.value).startswith("escalation.toml: ")
    assert words in str(caught.value)


def test_without_the_file_there_are_no_labels_and_no_checklist(catalog_dir):
    (catalog_dir / "escalation.toml").unlink()
    esc = catalog.load(catalog_dir, environ={}).escalation
    assert esc.labels == () and esc.criteria == () and esc.environment == "staging"


def test_environment_is_a_checked_profile_name():
    with pytest.raises(CatalogError, match="invalid environment 'Prod Env'"):
        catalog.load(overrides={"environment": "Prod Env"}, environ={})
