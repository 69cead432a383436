"""Shared checks of what pure-core modules import (used by the purity tests)."""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys
from collections.abc import Iterator, Sequence

import qstream.core

CORE = pathlib.Path(qstream.core.__file__).parent


def loaded_after_import(modules: Sequence[str], forbidden: Sequence[str]) -> str:
    """Import ``qstream.core.<m>`` for each module in a fresh interpreter; return the
    comma-separated ``forbidden`` modules that ended up in ``sys.modules``."""
    code = (
        "import sys\n"
        + "".join(f"import qstream.core.{m}\n" for m in modules)
        + f"print(','.join(m for m in {list(forbidden)!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def walk_imports(module: str) -> Iterator[tuple[ast.AST, list[str]]]:
    """Every AST node of ``qstream/core/<module>.py`` (or of every file of the package
    ``qstream/core/<module>/``) with the top-level names it imports."""
    package = CORE / module
    files = sorted(package.glob("*.py")) if package.is_dir() else [CORE / f"{module}.py"]
    for path in files:
        yield from _walk_file(path)


def _walk_file(path: pathlib.Path) -> Iterator[tuple[ast.AST, list[str]]]:
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name.split(".")[0] for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module.split(".")[0]]
        yield node, names
