"""Layout rules of the project that a refactor must not undo (issue 9)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MAX_LINES = 600
SOURCES = sorted([*(REPO / "qstream").rglob("*.py"), *(REPO / "agents").glob("*.py")])


@pytest.mark.parametrize("path", SOURCES, ids=[str(p.relative_to(REPO)) for p in SOURCES])
def test_no_module_is_longer_than_the_limit(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(REPO)} has {lines} lines; split it along a seam"


def test_doctests_are_collected_from_all_of_qstream() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    options = config["tool"]["pytest"]["ini_options"]
    assert "qstream" in options["testpaths"]
    assert "--doctest-modules" in options["addopts"]


def test_every_package_is_listed_for_installation() -> None:
    # A non-editable install ships only the packages pyproject names.
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    listed = set(config["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(REPO).parts)
             for p in (REPO / "qstream").rglob("__init__.py")}
    assert found <= listed, sorted(found - listed)


def test_test_module_basenames_are_unique() -> None:
    # The test folders have no __init__.py (pytest's "prepend" import mode): two files
    # with one basename in different folders fail collection with "import file mismatch".
    names = [p.name for p in (REPO / "tests").rglob("test_*.py")]
    assert sorted({n for n in names if names.count(n) > 1}) == []
