"""The backends package: no import cycle, each module imports on its own, light modules stay light."""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

import pytest

import qstream.backends

PACKAGE = pathlib.Path(qstream.backends.__file__).parent
MODULES = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__")
SDKS = ["qiskit", "qiskit_aer", "qiskit_ibm_runtime", "braket", "faust", "aiokafka"]


def _backends_imports(module: str) -> set[str]:
    """``qstream.backends`` modules that ``module`` imports anywhere (function bodies too)."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "qstream.backends":
                out.update(a.name for a in node.names)
            elif node.module.startswith("qstream.backends."):
                out.add(node.module.split(".")[2])
        elif isinstance(node, ast.Import):
            out.update(a.name.split(".")[2] for a in node.names
                       if a.name.startswith("qstream.backends."))
    return out & set(MODULES)


def test_the_backends_import_graph_has_no_cycle() -> None:
    graph = {m: _backends_imports(m) for m in MODULES}
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for dep in sorted(graph[m]):
            assert state.get(dep) != 1, f"import cycle: {' -> '.join([*path, m, dep])}"
            if dep not in state:
                visit(dep, [*path, m])
        state[m] = 2

    for m in MODULES:
        if m not in state:
            visit(m, [])


def test_the_pool_knows_no_backend_or_runner() -> None:
    imported = _backends_imports("pool")
    assert imported <= {"payloads", "worker_env", "limits"}, imported


@pytest.mark.parametrize("module", MODULES)
def test_each_module_imports_in_a_fresh_interpreter(module: str) -> None:
    subprocess.run([sys.executable, "-c", f"import qstream.backends.{module}"],
                   check=True, capture_output=True, text=True)


def test_the_pool_and_payloads_load_no_sdk() -> None:
    code = ("import sys\nimport qstream.backends.pool, qstream.backends.payloads\n"
            f"print(','.join(m for m in {SDKS!r} if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
