"""Shared test helpers: a valid task factory and the in-process agent harness pieces.

Importable as ``from helpers import task`` from every tier: ``tests/`` is on
``sys.path`` because ``tests/conftest.py`` is a rootless conftest (no
``__init__.py``), and pytest's default "prepend" import mode inserts the
directory of such a conftest before importing it.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from qstream.backends.base import ExecutionRequest, ExecutionResult
from qstream.backends.fleet import fleet_specs
from qstream.config import WorkerConfig
from qstream.core.backend_spec import BackendSpec
from qstream.errors import TransientBackendError
from qstream.stream.testing import Harness

BELL_QASM = (
    'OPENQASM 2.0; include "qelib1.inc"; qreg q[2]; creg c[2]; '
    "h q[0]; cx q[0],q[1]; measure q -> c;"
)
GHZ3_QASM = (
    'OPENQASM 2.0; include "qelib1.inc"; qreg q[3]; creg c[3]; '
    "h q[0]; cx q[0],q[1]; cx q[1],q[2]; measure q -> c;"
)
HEA4_QASM = """OPENQASM 2.0;
include "qelib1.inc";
qreg q[4];
ry(0.3) q[0]; ry(1.1) q[1]; ry(-0.7) q[2]; ry(0.5) q[3];
rz(0.2) q[0]; rz(-0.4) q[1]; rz(0.9) q[2]; rz(0.1) q[3];
cx q[0],q[1]; cx q[1],q[2]; cx q[2],q[3];
ry(0.8) q[0]; ry(-0.2) q[1]; ry(0.6) q[2]; ry(1.3) q[3];
"""
"""A 4-qubit hardware-efficient ansatz (RY/RZ layer, linear CX, RY layer; Kandala et al.,
Nature 549, 242 (2017)) with fixed angles, QASMBench-style, and no measurements."""

HEA4_OBSERVABLES: list[list[list[Any]]] = [
    [["ZZII", 1.0], ["IIZZ", 1.0], ["XXII", 0.5], ["IIXX", 0.5]],
    [["ZIII", 1.0]],
    [["IYYI", 0.25], ["IZZI", -0.5]],
]
"""Three observables on :data:`HEA4_QASM`: three qubit-wise commuting groups in all."""

_TASK: dict[str, Any] = {
    "schema": "qstream.task.v1",
    "task_id": "test-task-1",
    "circuits": [{"name": "bell", "qasm": BELL_QASM}],
    "shots": 1000,
}


def task(**overrides: Any) -> dict[str, Any]:
    """A valid ``qstream.task.v1`` dict (one Bell circuit, 1000 shots); ``overrides`` replace fields.

    >>> task(task_id="t2", shots=10)["shots"]
    10
    """
    return {**copy.deepcopy(_TASK), **overrides}


@dataclass
class FakeBackend:
    """A :class:`qstream.backends.base.Backend` that answers at once with ideal counts.

    Each request's counts split its shots evenly between all-zeros and all-ones
    over ``width`` clbits. ``fail`` decides per request whether to raise
    (``TransientBackendError``, so the execute agent's retries apply).
    """

    spec: BackendSpec
    width: int = 2
    fail: Callable[[ExecutionRequest], bool] = lambda request: False
    requests: list[ExecutionRequest] = field(default_factory=list)

    def pending_jobs(self) -> int:
        return 0

    def operational(self) -> bool:
        return True

    def stoppable(self) -> bool:
        return True

    async def execute(self, request: ExecutionRequest) -> ExecutionResult:
        self.requests.append(request)
        if self.fail(request):
            raise TransientBackendError(f"{self.spec.name}: injected failure")
        half = request.shots // 2
        counts = {"0" * self.width: request.shots - half, "1" * self.width: half}
        return ExecutionResult(self.spec.name, counts, request.shots, 0.0, 0.1, 0.001, 1.0,
                               1.0, None, 0, None, 0.0)


def config(**overrides: Any) -> WorkerConfig:
    """A worker config for in-process tests: a ``cpu_statevector`` fleet, fast retries."""
    values: dict[str, Any] = {"fleet": ("cpu_statevector",), "local_executors": False,
                              "retry_attempts": 1, "retry_initial_s": 0.0, "retry_max_s": 0.0}
    values.update(overrides)
    return WorkerConfig(**values)


def harness(*, with_executor: bool = True, **config_overrides: Any) -> tuple[Harness, FakeBackend]:
    """A :class:`Harness` over :func:`config`, with a :class:`FakeBackend` as its executor."""
    cfg = config(**config_overrides)
    specs = fleet_specs(cfg.fleet)
    backend = FakeBackend(specs[0])
    backends = {backend.spec.name: backend} if with_executor else None
    return Harness(cfg, specs, backends=backends), backend


def run(coro: Any) -> Any:
    """Run one coroutine to completion (the unit tests use no asyncio plugin)."""
    return asyncio.run(coro)
